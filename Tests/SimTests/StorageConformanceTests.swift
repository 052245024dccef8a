@testable import Aegis
import Testing
@testable import Sim

/// The backends under test. Each test of the suite runs once per backend; the LSM
/// tree runs with options small enough that the tests' data spans several flushes,
/// compactions and levels.
enum BackendKind: String, CaseIterable, CustomTestStringConvertible {
    case memory
    case lsm

    var testDescription: String { rawValue }

    func make(limits: StorageLimits = StorageLimits()) throws -> any StorageBackend {
        switch self {
        case .memory:
            return MemoryBackend(limits: limits)
        case .lsm:
            var options = StorageOptions.simulation
            options.limits = limits
            return try LSMTree(disk: try storageDisk(), options: options)
        }
    }
}

/// One conformance suite for every `StorageBackend`: the contract in
/// Sources/Aegis/Storage/StorageBackend.swift, checked the same way for each.
@Suite struct StorageConformanceTests {
    func key(_ number: Int) -> [UInt8] { bytes("k" + String(number).leftPadded(4)) }

    @Test(arguments: BackendKind.allCases)
    func readsSeeTheNewestVersionAtOrBelowTheirTimestamp(_ kind: BackendKind) throws {
        let backend = try kind.make()
        try backend.apply([KeyWrite(key: bytes("a"), value: bytes("1"))], at: 10)
        try backend.apply([KeyWrite(key: bytes("a"), value: bytes("2"))], at: 20)
        try backend.apply([KeyWrite(key: bytes("a"), value: nil)], at: 30)
        try backend.sync()
        #expect(try backend.get(bytes("a"), at: 5) == nil)
        #expect(try backend.get(bytes("a"), at: 10)?.value == bytes("1"))
        #expect(try backend.get(bytes("a"), at: 25) == Version(timestamp: 20, value: bytes("2")))
        #expect(try backend.get(bytes("a"), at: 30) == Version(timestamp: 30, value: nil))
        #expect(try backend.scan(from: [], to: nil, at: 30, limit: .max).isEmpty)
        #expect(try backend.scan(from: [], to: nil, at: 29, limit: .max).map(\.value) == [bytes("2")])
        #expect(backend.lastTimestamp == 30 && backend.durableTimestamp == 30)
    }

    @Test(arguments: BackendKind.allCases)
    func aBatchIsAtomicAndItsLastWriteToAKeyWins(_ kind: BackendKind) throws {
        let backend = try kind.make()
        try backend.apply([KeyWrite(key: bytes("x"), value: bytes("first")), KeyWrite(key: bytes("y"), value: bytes("y")),
                           KeyWrite(key: bytes("x"), value: bytes("second"))], at: 1)
        #expect(try backend.get(bytes("x"), at: 1)?.value == bytes("second"))
        #expect(try backend.versions(of: bytes("x")).count == 1)
        #expect(try backend.scan(from: [], to: nil, at: 1, limit: .max).map(\.key) == [bytes("x"), bytes("y")])
    }

    @Test(arguments: BackendKind.allCases)
    func scansHonourBoundsAndLimits(_ kind: BackendKind) throws {
        let backend = try kind.make()
        for number in 0..<500 {
            try backend.apply([KeyWrite(key: key(number), value: bytes("v\(number)"))], at: Timestamp(number + 1))
        }
        try backend.apply((0..<500).filter { $0 % 3 == 0 }.map { KeyWrite(key: key($0), value: nil) }, at: 501)
        let all = try backend.scan(from: [], to: nil, at: 501, limit: .max)
        #expect(all.map(\.key) == (0..<500).filter { $0 % 3 != 0 }.map(key))
        let window = try backend.scan(from: key(100), to: key(200), at: 501, limit: .max)
        #expect(window.map(\.key) == (100..<200).filter { $0 % 3 != 0 }.map(key))
        let limited = try backend.scan(from: key(100), to: nil, at: 501, limit: 7)
        #expect(limited.map(\.key) == Array((100..<500).filter { $0 % 3 != 0 }.map(key).prefix(7)))
        // Before the deletes, everything written so far.
        #expect(try backend.scan(from: [], to: nil, at: 250, limit: .max).count == 250)
    }

    @Test(arguments: BackendKind.allCases)
    func limitsRefuseAWriteAndChangeNothing(_ kind: BackendKind) throws {
        var limits = StorageLimits()
        limits.keyBytesMax = 64
        limits.valueBytesMax = 1024
        limits.batchBytesMax = 4096
        let backend = try kind.make(limits: limits)
        try backend.apply([KeyWrite(key: bytes("kept"), value: bytes("v"))], at: 1)
        let refused: [([KeyWrite], String)] = [
            ([KeyWrite(key: [UInt8](repeating: 65, count: 65), value: bytes("v"))], "exceeds the limit of 64"),
            ([KeyWrite(key: bytes("big"), value: [UInt8](repeating: 1, count: 1025))], "exceeds the limit of 1024"),
            ([KeyWrite(key: [], value: bytes("v"))], "empty key"),
            ((0..<8).map { KeyWrite(key: key($0), value: [UInt8](repeating: 2, count: 1000)) }, "split it into smaller transactions"),
        ]
        for (batch, message) in refused {
            do {
                try backend.apply(batch + [KeyWrite(key: bytes("kept"), value: bytes("changed"))], at: 2)
                Issue.record("the batch should have been refused")
            } catch {
                #expect(error.description.contains(message), "\(error)")
            }
        }
        #expect(backend.lastTimestamp == 1)
        #expect(try backend.get(bytes("kept"), at: 2)?.value == bytes("v"))
        try backend.apply([KeyWrite(key: bytes("kept"), value: bytes("later"))], at: 2)
        #expect(try backend.get(bytes("kept"), at: 2)?.value == bytes("later"))
    }

    @Test(arguments: BackendKind.allCases)
    func garbageCollectionDropsOnlyWhatNoReaderCanSee(_ kind: BackendKind) throws {
        let backend = try kind.make()
        for timestamp in 1...100 {
            try backend.apply([KeyWrite(key: bytes("counter"), value: bytes("\(timestamp)")),
                               KeyWrite(key: bytes("temp-\(timestamp % 10)"), value: timestamp > 50 ? nil : bytes("t"))],
                              at: Timestamp(timestamp))
        }
        backend.lowWater = 60
        try backend.collectGarbage()
        for timestamp in 60...100 {
            #expect(try backend.get(bytes("counter"), at: Timestamp(timestamp))?.value == bytes("\(timestamp)"))
        }
        #expect(try backend.versions(of: bytes("counter")).count == 41)
        #expect(try backend.scan(from: bytes("temp"), to: nil, at: 60, limit: .max).isEmpty)
        backend.lowWater = 100
        try backend.collectGarbage()
        #expect(try backend.versions(of: bytes("counter")).count == 1)
        #expect(try backend.versions(of: bytes("temp-3")).isEmpty)
    }

    /// A long random run against a model, reading at random past timestamps.
    @Test(arguments: BackendKind.allCases)
    func randomOperationsAgreeWithAModel(_ kind: BackendKind) throws {
        let backend = try kind.make()
        var model: [[UInt8]: [(Timestamp, [UInt8]?)]] = [:]
        var random = SeededRandom(seed: 99)
        func expected(_ key: [UInt8], at timestamp: Timestamp) -> [UInt8]? {
            model[key]?.first { $0.0 <= timestamp }?.1 ?? nil
        }
        for timestamp in Timestamp(1)...3000 {
            let writes = (0..<Int(1 + random.uniform(below: 3))).map { _ -> KeyWrite in
                let number = Int(random.uniform(below: 250))
                return KeyWrite(key: key(number), value: random.uniform(below: 5) == 0 ? nil : bytes("\(number)@\(timestamp)"))
            }
            try backend.apply(writes, at: timestamp)
            for write in LSMTree.distinct(writes) { model[write.key, default: []].insert((timestamp, write.value), at: 0) }
            if timestamp % 7 == 0 { try backend.sync() }
            if timestamp % 50 == 0 {
                let at = 1 + random.uniform(below: timestamp)
                for number in stride(from: Int(random.uniform(below: 5)), to: 250, by: 5) {
                    #expect(try backend.get(key(number), at: at)?.value == expected(key(number), at: at))
                }
                let start = Int(random.uniform(below: 250))
                let scanned = try backend.scan(from: key(start), to: key(start + 40), at: at, limit: .max)
                let wanted = (start..<min(start + 40, 250)).compactMap { number in expected(key(number), at: at).map { (key(number), $0) } }
                #expect(scanned.map(\.key) == wanted.map(\.0) && scanned.map(\.value) == wanted.map(\.1))
            }
        }
    }
}

/// The isolation levels, each pinned to the anomalies it must prevent (and, for
/// snapshot isolation, the one it is documented to allow), on every backend.
@Suite struct IsolationTests {
    func store(_ kind: BackendKind, _ setup: [(String, String)] = []) throws -> MVCCStore {
        let store = MVCCStore(backend: try kind.make())
        let transaction = store.begin()
        for (key, value) in setup { try transaction.put(bytes(key), bytes(value)) }
        try store.commit(transaction)
        return store
    }

    func value(_ transaction: Transaction, _ key: String) throws -> String? {
        try transaction.get(bytes(key)).map { String(decoding: $0, as: UTF8.self) }
    }

    static let cases: [(BackendKind, IsolationLevel)] = BackendKind.allCases.flatMap { kind in
        IsolationLevel.allCases.map { (kind, $0) }
    }

    @Test(arguments: cases)
    func noDirtyReads(_ kind: BackendKind, _ isolation: IsolationLevel) throws {
        let store = try store(kind, [("x", "0")])
        let writer = store.begin(isolation)
        try writer.put(bytes("x"), bytes("dirty"))
        let reader = store.begin(isolation)
        #expect(try value(reader, "x") == "0")
        #expect(try value(writer, "x") == "dirty", "a transaction reads its own writes")
        store.rollback(writer)
        #expect(try store.read(bytes("x")) == bytes("0"))
    }

    @Test(arguments: cases)
    func noNonRepeatableReads(_ kind: BackendKind, _ isolation: IsolationLevel) throws {
        let store = try store(kind, [("x", "0")])
        let reader = store.begin(isolation)
        #expect(try value(reader, "x") == "0")
        let writer = store.begin(isolation)
        try writer.put(bytes("x"), bytes("1"))
        try store.commit(writer)
        #expect(try value(reader, "x") == "0")
        try store.commit(reader)
        #expect(try store.read(bytes("x")) == bytes("1"))
    }

    @Test(arguments: cases)
    func noPhantoms(_ kind: BackendKind, _ isolation: IsolationLevel) throws {
        let store = try store(kind, [("row/1", "a"), ("row/3", "c")])
        let reader = store.begin(isolation)
        let before = try reader.scan(from: bytes("row/"), to: bytes("row0"))
        let writer = store.begin(isolation)
        try writer.put(bytes("row/2"), bytes("b"))
        try store.commit(writer)
        let after = try reader.scan(from: bytes("row/"), to: bytes("row0"))
        #expect(before.map(\.key) == after.map(\.key) && before.count == 2)
    }

    @Test(arguments: cases)
    func noLostUpdates(_ kind: BackendKind, _ isolation: IsolationLevel) throws {
        let store = try store(kind, [("counter", "10")])
        let first = store.begin(isolation)
        let second = store.begin(isolation)
        for transaction in [first, second] {
            let current = Int(try value(transaction, "counter")!)!
            try transaction.put(bytes("counter"), bytes("\(current + 1)"))
        }
        try store.commit(first)
        #expect(throws: StorageError.conflict(key: bytes("counter"))) { try store.commit(second) }
        #expect(try store.read(bytes("counter")) == bytes("11"))
    }

    /// Two on-call doctors each check that the other is on call and go off call.
    /// Snapshot isolation lets both commit (write skew); serializable refuses one.
    @Test(arguments: cases)
    func writeSkewOnlyUnderSnapshotIsolation(_ kind: BackendKind, _ isolation: IsolationLevel) throws {
        let store = try store(kind, [("alice", "on"), ("bob", "on")])
        let alice = store.begin(isolation)
        let bob = store.begin(isolation)
        for (transaction, me, other) in [(alice, "alice", "bob"), (bob, "bob", "alice")] {
            if try value(transaction, other) == "on" { try transaction.put(bytes(me), bytes("off")) }
        }
        try store.commit(alice)
        switch isolation {
        case .snapshot:
            try store.commit(bob)
            #expect(try store.read(bytes("alice")) == bytes("off") && store.read(bytes("bob")) == bytes("off"),
                    "snapshot isolation allows write skew, as documented")
        case .serializable:
            #expect(throws: StorageError.conflict(key: bytes("alice"))) { try store.commit(bob) }
            #expect(try store.read(bytes("bob")) == bytes("on"))
        }
    }

    /// Write skew through a range: each counts the rows and inserts one if there are
    /// fewer than three. Serializable validates the scanned range.
    @Test(arguments: cases)
    func phantomWriteSkewOnlyUnderSnapshotIsolation(_ kind: BackendKind, _ isolation: IsolationLevel) throws {
        let store = try store(kind, [("slot/1", "x")])
        let first = store.begin(isolation)
        let second = store.begin(isolation)
        for (transaction, name) in [(first, "slot/2"), (second, "slot/3")] {
            if try transaction.scan(from: bytes("slot/"), to: bytes("slot0")).count < 2 {
                try transaction.put(bytes(name), bytes("x"))
            }
        }
        try store.commit(first)
        if isolation == .serializable {
            #expect(throws: StorageError.self) { try store.commit(second) }
        } else {
            try store.commit(second)
        }
        let final = try store.begin().scan(from: bytes("slot/"), to: bytes("slot0"))
        #expect(final.count == (isolation == .serializable ? 2 : 3))
    }

    @Test(arguments: BackendKind.allCases)
    func readOnlyTransactionsNeverAbortAndFinishedOnesRefuseUse(_ kind: BackendKind) throws {
        let store = try store(kind, [("x", "1")])
        let reader = store.begin(.serializable)
        _ = try reader.get(bytes("x"))
        let writer = store.begin()
        try writer.put(bytes("x"), bytes("2"))
        try store.commit(writer)
        try store.commit(reader)
        #expect(throws: StorageError.transactionFinished) { try reader.put(bytes("x"), bytes("3")) }
        #expect(throws: StorageError.transactionFinished) { try store.commit(reader) }
    }

    /// Group commit: commits applied without waiting are invisible to new snapshots
    /// until one sync covers them all.
    @Test(arguments: BackendKind.allCases)
    func unsyncedCommitsStayInvisibleUntilTheGroupSyncs(_ kind: BackendKind) throws {
        let store = try store(kind)
        for number in 0..<5 {
            let transaction = store.begin()
            try transaction.put(bytes("k\(number)"), bytes("v"))
            try store.commit(transaction, waitForSync: false)
        }
        #expect(store.unsyncedCommits == 5)
        #expect(try store.begin().scan(from: [], to: nil).isEmpty)
        try store.syncCommits()
        #expect(try store.begin().scan(from: [], to: nil).count == 5)
    }

    /// The low-water mark follows the oldest running transaction, so its snapshot
    /// survives garbage collection.
    @Test(arguments: BackendKind.allCases)
    func aRunningSnapshotSurvivesGarbageCollection(_ kind: BackendKind) throws {
        let store = try store(kind, [("x", "0")])
        let old = store.begin()
        for number in 1...50 {
            let transaction = store.begin()
            try transaction.put(bytes("x"), bytes("\(number)"))
            try store.commit(transaction)
        }
        #expect(store.lowWater == old.start)
        try store.backend.collectGarbage()
        #expect(try value(old, "x") == "0")
        store.rollback(old)
        #expect(store.lowWater == store.visibleTimestamp)
        try store.backend.collectGarbage()
        #expect(try store.backend.versions(of: bytes("x")).count == 1)
    }
}
