import Aegis

/// What the storage node did, in order, for the checker (drained after every step).
enum StorageObservation {
    /// A store opened; recovery found batches through `lastTimestamp`.
    case opened(lastTimestamp: Timestamp, recovery: LSMTree.Recovery)
    /// The store cannot open: damage it detected.
    case openRefused(StorageError)
    /// A transaction applied (durable only once acknowledged).
    case committed(timestamp: Timestamp, writes: [KeyWrite])
    /// A group sync returned: every commit through this timestamp is durable and its
    /// client has been answered.
    case acknowledged(through: Timestamp)
    case read(at: Timestamp, key: [UInt8], result: Result<[UInt8]?, StorageError>)
    case scanned(at: Timestamp, start: [UInt8], end: [UInt8], limit: Int,
                 result: Result<[(key: [UInt8], value: [UInt8])], StorageError>)
    /// A write was refused by the engine's limits (nothing applied).
    case refused(StorageError)
    case conflict
}

/// The storage node: an LSM tree under MVCC transactions on the host's disk, serving
/// transfers, writes, reads and scans. Commits are acknowledged in groups: each is
/// applied at once, and a timer `groupCommitNanoseconds` later one sync makes the
/// whole group durable before any of its clients hears back.
///
/// A failed write or sync leaves the store refusing writes; the node answers the
/// affected clients "outcome unknown" and reopens the store (recovery) in place. A
/// store that cannot open because of damage it found stays closed and every request
/// is answered with that error. A crash inside a disk call is passed up (the host
/// takes the process down).
final class StorageServer: NodeProcess {
    struct Configuration {
        var options: StorageOptions
        var accounts: Int
        var initialBalance: Int
        var groupCommitNanoseconds: UInt64
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    private(set) var tree: LSMTree?
    private(set) var store: MVCCStore?
    private(set) var unavailable: StorageError?
    var observations: [StorageObservation] = []
    private var waiting: [(client: NodeID, reply: StorageReply)] = []
    private var groupTimer: TimerID?
    private(set) var reopenCount = 0
    /// Stores opened by this process so far (names the current one).
    private(set) var opens = 0
    /// Called right after a store opens, before it serves anything (the checker's hook).
    var onOpen: ((StorageServer, LSMTree) -> Void)?

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
    }

    static func accountKey(_ number: Int) -> [UInt8] {
        Array("acct/\(number < 10 ? "0" : "")\(number)".utf8)
    }

    func start() throws(DiskError) {
        try open()
    }

    private func open() throws(DiskError) {
        let tree: LSMTree
        do {
            tree = try LSMTree(disk: environment.disk, options: configuration.options)
        } catch {
            switch error {
            case let .disk(diskError):
                throw diskError  // a crash, or an I/O error: fail stop, restart later
            default:
                unavailable = error
                observations.append(.openRefused(error))
                return
            }
        }
        self.tree = tree
        opens += 1
        let store = MVCCStore(backend: tree)
        self.store = store
        unavailable = nil
        observations.append(.opened(lastTimestamp: tree.lastTimestamp, recovery: tree.recovery))
        onOpen?(self, tree)
        if tree.lastTimestamp == 0 { try bootstrap(store) }
    }

    /// The first commit of a new store: every account with its starting balance.
    private func bootstrap(_ store: MVCCStore) throws(DiskError) {
        let transaction = store.begin()
        do {
            for number in 0..<configuration.accounts {
                try transaction.put(StorageServer.accountKey(number), Array(String(configuration.initialBalance).utf8))
            }
            let writes = transaction.sortedWrites
            let timestamp = try store.commit(transaction, waitForSync: false)
            observations.append(.committed(timestamp: timestamp, writes: writes))
            try store.syncCommits()
            observations.append(.acknowledged(through: store.visibleTimestamp))
        } catch {
            try storeFailed(error)
        }
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            guard timer == groupTimer else { return }
            groupTimer = nil
            try syncGroup()
        case let .message(from, bytes):
            guard let request = try? StorageRequest.decode(bytes) else { return }
            try serve(request, from: from)
        }
    }

    private func reply(_ reply: StorageReply, to client: NodeID) {
        environment.network.send(to: client, bytes: reply.encode())
    }

    private func serve(_ request: StorageRequest, from client: NodeID) throws(DiskError) {
        guard let store else {
            reply(.failed(id: request.id, reason: unavailable?.description ?? "the store is not open"), to: client)
            return
        }
        switch request {
        case let .transfer(id, from, to, amount, isolation):
            let transaction = store.begin(isolation)
            let source = StorageServer.accountKey(from)
            let target = StorageServer.accountKey(to)
            guard let sourceBalance = read(transaction, source, id: id, client: client),
                  let targetBalance = read(transaction, target, id: id, client: client) else { return }
            let have = sourceBalance.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            let has = targetBalance.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            guard from != to, have >= amount else {
                store.rollback(transaction)
                reply(.refused(id: id, reason: "insufficient funds"), to: client)
                return
            }
            do {
                try transaction.put(source, Array(String(have - amount).utf8))
                try transaction.put(target, Array(String(has + amount).utf8))
            } catch {
                store.rollback(transaction)
                reply(.refused(id: id, reason: error.description), to: client)
                return
            }
            try commit(transaction, id: id, client: client)
        case let .write(id, writes, isolation):
            let transaction = store.begin(isolation)
            do {
                for write in writes {
                    if let value = write.value { try transaction.put(write.key, value) } else { try transaction.delete(write.key) }
                }
            } catch {
                store.rollback(transaction)
                observations.append(.refused(error))
                reply(.refused(id: id, reason: error.description), to: client)
                return
            }
            try commit(transaction, id: id, client: client)
        case let .read(id, keys):
            let transaction = store.begin()
            defer { store.rollback(transaction) }
            for key in keys {
                guard read(transaction, key, id: id, client: client) != nil else { return }
            }
            reply(.values(id: id, timestamp: transaction.start, count: keys.count), to: client)
        case let .scan(id, start, end, limit):
            let transaction = store.begin()
            defer { store.rollback(transaction) }
            do {
                let rows = try transaction.scan(from: start, to: end, limit: limit)
                observations.append(.scanned(at: transaction.start, start: start, end: end, limit: limit, result: .success(rows)))
                reply(.values(id: id, timestamp: transaction.start, count: rows.count), to: client)
            } catch {
                if error.isCrash { throw .crashed }
                observations.append(.scanned(at: transaction.start, start: start, end: end, limit: limit, result: .failure(error)))
                reply(.failed(id: id, reason: error.description), to: client)
            }
        }
    }

    /// Reads `key` in `transaction`, recording what was read. On an error, answers the
    /// client, ends the transaction and returns nil. (A crash is recorded as such and
    /// surfaces at the next disk call.)
    private func read(_ transaction: Transaction, _ key: [UInt8], id: UInt64, client: NodeID) -> [UInt8]?? {
        do {
            let value = try transaction.get(key)
            observations.append(.read(at: transaction.start, key: key, result: .success(value)))
            return .some(value)
        } catch {
            if !error.isCrash {
                observations.append(.read(at: transaction.start, key: key, result: .failure(error)))
                reply(.failed(id: id, reason: error.description), to: client)
            }
            store?.rollback(transaction)
            return nil
        }
    }

    private func commit(_ transaction: Transaction, id: UInt64, client: NodeID) throws(DiskError) {
        guard let store else { return }
        let writes = transaction.sortedWrites
        do {
            let timestamp = try store.commit(transaction, waitForSync: false)
            observations.append(.committed(timestamp: timestamp, writes: writes))
            waiting.append((client, .committed(id: id, timestamp: timestamp)))
            if groupTimer == nil { groupTimer = environment.timers.arm(afterNanoseconds: configuration.groupCommitNanoseconds) }
        } catch {
            if case .conflict = error {
                observations.append(.conflict)
                reply(.refused(id: id, reason: error.description), to: client)
                return
            }
            reply(.failed(id: id, reason: error.description), to: client)
            try storeFailed(error)
        }
    }

    /// One sync for every commit waiting, then every waiting client is answered.
    private func syncGroup() throws(DiskError) {
        guard let store, !waiting.isEmpty else { return }
        do {
            try store.syncCommits()
        } catch {
            try storeFailed(error)
            return
        }
        observations.append(.acknowledged(through: store.visibleTimestamp))
        let answered = waiting
        waiting.removeAll()
        for (client, answer) in answered { reply(answer, to: client) }
    }

    /// After a failed write or sync: clients still waiting learn the outcome is unknown,
    /// and the store is reopened (recovery decides what survived).
    private func storeFailed(_ error: StorageError) throws(DiskError) {
        if error.isCrash { throw .crashed }
        for (client, answer) in waiting {
            reply(.failed(id: answer.id, reason: "outcome unknown: \(error)"), to: client)
        }
        waiting.removeAll()
        if let groupTimer { environment.timers.cancel(groupTimer) }
        groupTimer = nil
        tree?.close()
        tree = nil
        store = nil
        reopenCount += 1
        try open()
    }
}
