import Aegis
import Logging
import NIOCore

/// Runs one `ShardNode` (the sharded key-value store: many Raft groups, a shard map,
/// two-phase commit) on the engine's event loop, beside the `EngineHost`'s `KVNode`,
/// and carries client transactions to it.
///
/// Both nodes share the peer transport: every byte string of the sharded node travels
/// behind `channelTag`, which no message of the `KVNode` starts with, and the engine
/// host hands such messages here. A call is a `ShardClientRequest` to the local node,
/// whose gateway carries it to the shards' leaders (retrying new leaders and stale maps
/// itself); its answer comes back addressed to this node. A shard keeps one session per
/// client id and expects one request of it at a time (a later sequence makes earlier
/// ones stale), so the host runs each of its own calls in a *lane*: a client id of its
/// own with at most one call in flight, numbered in turn. The host retries an answer
/// that took no effect (`unavailable`) or may have (`unknown`) with the same client id
/// and sequence, which the shards apply at most once, until the call's deadline; a
/// transaction that aborted for a reason that may pass (a lock conflict, a stale map, a
/// participant's timeout) runs again as a new transaction.
public final class ShardHost: @unchecked Sendable {
    /// The first byte of every sharded-node message on the peer transport.
    public static let channelTag: UInt8 = 0xE5
    static let attemptTimeout = TimeAmount.seconds(2)
    static let retryDelay = TimeAmount.milliseconds(50)
    public static let callsMax = 4096

    public let loop: any EventLoop
    public let nodeID: NodeID
    private let disk: FileDisk
    private let send: (NodeID, [UInt8]) -> Void
    private let configuration: ShardNode.Configuration
    private let logger: Logger
    private let timers: LoopTimers
    private let entropy = SystemEntropy()
    /// Set once `start` recovered it; until then (the peer transport is already up)
    /// messages for it are dropped — every protocol of the node allows for loss.
    private var node: ShardNode?
    private var stoppedReason: String?
    /// Called once, on the loop, when the node stops for good (its disk failed).
    public var onFatal: @Sendable (String) -> Void = { _ in }

    /// Lanes with no call in flight (there are at most `callsMax` lanes, one per call).
    private var idleLanes: [Lane] = []
    private var calls: [CallKey: Call] = [:]

    /// A client id of this host's, and the next sequence it sends.
    struct Lane {
        var clientID: UInt64
        var nextSequence: UInt64
    }

    struct CallKey: Hashable {
        var clientID: UInt64
        var sequence: UInt64
    }
    public private(set) var counters = Counters()

    public struct Counters: Sendable {
        public var transactions = 0
        public var committed = 0
        public var aborted = 0
        public var reruns = 0
        public var retries = 0
    }

    private final class Call {
        let request: ShardClientRequest
        let promise: EventLoopPromise<ShardClientOutcome>
        /// The lane it runs in (nil for a call under the caller's own identity).
        var lane: Lane?
        var lastReason = "no answer yet"
        var mayHaveApplied = false
        var attemptTimer: Scheduled<Void>?
        var retryTimer: Scheduled<Void>?
        var deadlineTimer: Scheduled<Void>?

        init(request: ShardClientRequest, promise: EventLoopPromise<ShardClientOutcome>) {
            self.request = request
            self.promise = promise
        }
    }

    init(loop: any EventLoop, nodeID: NodeID, disk: FileDisk, configuration: ShardNode.Configuration, logger: Logger,
         send: @escaping (NodeID, [UInt8]) -> Void) {
        self.loop = loop
        self.nodeID = nodeID
        self.disk = disk
        self.configuration = configuration
        self.logger = logger
        self.send = send
        timers = LoopTimers(loop: loop)
    }

    /// An idle lane, or a new one with a fresh random client id (so lanes of an earlier
    /// run of this node never meet its old sessions).
    private func takeLane() -> Lane {
        if let lane = idleLanes.popLast() { return lane }
        var id: UInt64 = 0
        while id == 0 { id = entropy.nextUInt64() }
        return Lane(clientID: id, nextSequence: 1)
    }

    /// The layout every founding node computes alike: `shards` data shards over the
    /// default split keys, each on `replication` of the founding nodes.
    public static func layout(nodes: [NodeID], shards: Int, replication: Int = 3) -> ShardLayout {
        ShardLayout(nodes: nodes, splitKeys: ShardMap.defaultSplitKeys(count: shards), replicationFactor: replication)
    }

    /// Recovers the node from its disk (or founds its groups) and starts it; on the loop.
    func start() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            timers.fire = { [unowned self] timer in drive(.timer(timer)) }
            let environment = NodeEnvironment(node: nodeID, clock: SystemClock(), timers: timers, disk: disk,
                network: HostNetwork(host: self), entropy: entropy)
            let node = ShardNode(environment: environment, configuration: configuration)
            try node.start()
            self.node = node
            if let report = node.recoveryReport {
                logger.info("node \(nodeID.rawValue) recovered \(node.hostedShards.count) shard replica(s) from disk: \(report)")
            }
        }
    }

    func stop() -> EventLoopFuture<Void> {
        loop.submit { [self] in halt("the node is shutting down") }
    }

    private func halt(_ reason: String) {
        guard stoppedReason == nil else { return }
        stoppedReason = reason
        timers.cancelAll()
        for key in calls.keys.sorted(by: { ($0.clientID, $0.sequence) < ($1.clientID, $1.sequence) }) {
            finish(key, .failure(EngineCallError.stopped(reason)))
        }
    }

    // MARK: driving the node

    private var inbox: [NodeEvent] = []
    private var inboxFlushScheduled = false

    private func drive(_ event: NodeEvent) {
        guard stoppedReason == nil else { return }
        inbox.append(event)
        guard !inboxFlushScheduled else { return }
        inboxFlushScheduled = true
        loop.execute { [self] in flushInbox() }
    }

    private func flushInbox() {
        inboxFlushScheduled = false
        guard stoppedReason == nil, !inbox.isEmpty else { return }
        let events = inbox
        inbox.removeAll(keepingCapacity: true)
        guard let node else { return }
        do {
            try node.handle(batch: events)
        } catch {
            let reason = "node \(nodeID.rawValue) stopped: the disk of its shards failed (\(error)); fix the disk and restart it, it recovers from what was synced"
            logger.critical("\(reason)")
            halt(reason)
            onFatal(reason)
        }
    }

    /// A message of the sharded node from a peer, its channel tag removed; on the loop.
    func received(_ bytes: [UInt8], from sender: NodeID) {
        if bytes.first == ShardClientResponse.wireTag {
            if let response = try? ShardClientResponse.decode(bytes) { answered(response) }
            return
        }
        drive(.message(from: sender, bytes: bytes))
    }

    private final class HostNetwork: Network {
        unowned let host: ShardHost
        init(host: ShardHost) { self.host = host }
        var localNode: NodeID { host.nodeID }

        func send(to target: NodeID, bytes: [UInt8]) {
            if target == host.nodeID {
                if bytes.first == ShardClientResponse.wireTag {
                    if let response = try? ShardClientResponse.decode(bytes) { host.answered(response) }
                } else {
                    host.drive(.message(from: host.nodeID, bytes: bytes))
                }
                return
            }
            host.send(target, [ShardHost.channelTag] + bytes)
        }
    }

    // MARK: calls

    /// Carries one request to the cluster. `identity` makes retries across HTTP
    /// requests the same transaction; without it the host numbers calls itself.
    public func call(_ operation: ShardClientOperation, identity: (clientID: UInt64, sequence: UInt64)? = nil,
                     timeout: TimeAmount) -> EventLoopFuture<ShardClientOutcome> {
        loop.flatSubmit { [self] in
            if let stoppedReason { return loop.makeFailedFuture(EngineCallError.stopped(stoppedReason)) }
            guard calls.count < ShardHost.callsMax else {
                return loop.makeFailedFuture(EngineCallError.busy("node \(nodeID.rawValue) has \(ShardHost.callsMax) shard calls in flight; retry shortly"))
            }
            let request: ShardClientRequest
            var lane: Lane?
            if let identity {
                guard identity.clientID != 0, identity.sequence != 0 else {
                    return loop.makeFailedFuture(EngineCallError.badRequest("a request id needs a non-zero client id and sequence"))
                }
                request = ShardClientRequest(clientID: identity.clientID, sequence: identity.sequence, operation: operation)
            } else {
                var taken = takeLane()
                request = ShardClientRequest(clientID: taken.clientID, sequence: taken.nextSequence, operation: operation)
                taken.nextSequence += 1
                lane = taken
            }
            let key = CallKey(clientID: request.clientID, sequence: request.sequence)
            if let running = calls[key] { return running.promise.futureResult }
            let call = Call(request: request, promise: loop.makePromise())
            call.lane = lane
            calls[key] = call
            call.deadlineTimer = loop.scheduleTask(in: timeout) { [self] in deadlinePassed(key) }
            attempt(key)
            return call.promise.futureResult
        }
    }

    /// Runs a transaction to its end: committed, or aborted for good. A retryable
    /// abort runs the same operations again as a new transaction, until `timeout`.
    public func transaction(_ operations: [TransactionOperation], identity: (clientID: UInt64, sequence: UInt64)? = nil,
                            timeout: TimeAmount) async throws -> TransactionOutcome {
        let deadline = NIODeadline.now() + timeout
        var runIdentity = identity
        var backoff = TimeAmount.milliseconds(5)
        while true {
            let remaining = deadline - NIODeadline.now()
            guard remaining > .zero else {
                throw EngineCallError.timeout("the transaction kept meeting conflicting ones and did not commit in time; try again")
            }
            let outcome = try await call(.transaction(operations), identity: runIdentity, timeout: remaining).get()
            guard case let .transaction(result) = outcome else { throw ShardHost.unexpected(outcome) }
            loop.execute { [self] in counters.transactions += 1 }
            switch result {
            case .committed:
                loop.execute { [self] in counters.committed += 1 }
                return result
            case let .aborted(reason) where reason.isRetryable:
                loop.execute { [self] in counters.reruns += 1 }
                runIdentity = nil
                try await Task.sleep(nanoseconds: UInt64(backoff.nanoseconds) + UInt64.random(in: 0...UInt64(backoff.nanoseconds)))
                backoff = min(backoff * 2, .milliseconds(200))
            case .aborted:
                loop.execute { [self] in counters.aborted += 1 }
                return result
            }
        }
    }

    /// Runs a SQL request on the sharded store (`ShardSQLCall`): reads from the shards'
    /// leaders, runs the statements here on what was read, and commits what they read
    /// and wrote as one transaction, again and again until it holds or `timeout` passes.
    /// With `identity` (an `X-Aegis-Request-Id`), a request that writes applies at most
    /// once (its `RequestRecord`).
    public func sql(_ text: String, parameters: [SQLValue], identity: (clientID: UInt64, sequence: UInt64)? = nil,
                    timeout: TimeAmount) async throws -> ShardSQLOutcome {
        let deadline = NIODeadline.now() + timeout
        let call = ShardSQLCall(text: text, parameters: parameters, map: try await loop.submit { [self] in node?.shardMap }.get(),
            entropy: SystemEntropy(), request: identity.map { TransactionID(client: $0.clientID, sequence: $0.sequence) },
            nowMilliseconds: Timestamp.nowMilliseconds())
        var committing = false
        while true {
            let remaining = deadline - NIODeadline.now()
            guard remaining > .zero else {
                throw committing
                    ? EngineCallError.outcomeUnknown("the SQL request's commit was not confirmed in time; it may or may not have taken effect")
                    : EngineCallError.timeout("the SQL request did not finish in time (\(call.runs) runs, \(call.readsDone) reads, \(call.commits) commits); try again")
            }
            switch call.next() {
            case let .read(start, end):
                let outcome = try await self.call(.read(start: start, end: end, limit: ShardSQLCall.readLimit), timeout: remaining).get()
                guard case let .read(entries, coveredEnd) = outcome else { throw ShardHost.unexpected(outcome) }
                call.handle(.read(entries, coveredEnd: coveredEnd))
            case .fetchMap:
                let outcome = try await self.call(.map, timeout: remaining).get()
                guard case let .map(map) = outcome else { throw ShardHost.unexpected(outcome) }
                call.handle(.map(map))
            case let .commit(operations):
                committing = true
                let outcome = try await self.call(.transaction(operations), timeout: remaining).get()
                committing = false
                switch outcome {
                case .transaction(.committed): call.handle(.committed)
                case let .transaction(.aborted(reason)): call.handle(.aborted(reason))
                default: throw ShardHost.unexpected(outcome)
                }
            case let .pause(nanoseconds):
                try await Task.sleep(nanoseconds: nanoseconds)
            case let .finished(outcome):
                return outcome
            }
        }
    }

    /// The SQL catalog as the leader of its shard holds it (an operator's view, not a
    /// transaction).
    public func sqlCatalog(timeout: TimeAmount) async throws -> Catalog {
        let span = ShardSQLCall.catalogSpan
        let outcome = try await call(.read(start: span.start, end: span.end, limit: 1), timeout: timeout).get()
        guard case let .read(entries, _) = outcome else { throw ShardHost.unexpected(outcome) }
        do { return try ShardSQLCall.catalog(fromRead: entries) } catch {
            throw EngineCallError.badRequest("the stored SQL catalog does not decode (\(error)); the data is damaged")
        }
    }

    static func unexpected(_ outcome: ShardClientOutcome) -> EngineCallError {
        switch outcome {
        case let .refused(reason): return .badRequest(reason)
        case let .unavailable(reason): return .timeout(reason)
        case let .unknown(reason): return .outcomeUnknown(reason)
        default: return .badRequest("the cluster answered \(outcome) to a request that expects another answer")
        }
    }

    private func attempt(_ key: CallKey) {
        guard let call = calls[key] else { return }
        call.retryTimer = nil
        call.attemptTimer?.cancel()
        call.attemptTimer = loop.scheduleTask(in: ShardHost.attemptTimeout) { [self] in
            guard let call = calls[key] else { return }
            if case .transaction = call.request.operation { call.mayHaveApplied = true }
            retryLater(key, reason: "the gateway did not answer within \(ShardHost.attemptTimeout.nanoseconds / 1_000_000) ms")
        }
        drive(.message(from: nodeID, bytes: call.request.encoded))
    }

    private func answered(_ response: ShardClientResponse) {
        let key = CallKey(clientID: response.clientID, sequence: response.sequence)
        guard let call = calls[key] else { return }
        switch response.outcome {
        case let .unavailable(reason):
            retryLater(key, reason: reason)
        case let .unknown(reason):
            call.mayHaveApplied = true
            retryLater(key, reason: reason)
        default:
            finish(key, .success(response.outcome))
        }
    }

    private func retryLater(_ key: CallKey, reason: String) {
        guard let call = calls[key] else { return }
        call.lastReason = reason
        call.attemptTimer?.cancel()
        call.attemptTimer = nil
        guard call.retryTimer == nil else { return }
        counters.retries += 1
        call.retryTimer = loop.scheduleTask(in: ShardHost.retryDelay) { [self] in attempt(key) }
    }

    private func deadlinePassed(_ key: CallKey) {
        guard let call = calls[key] else { return }
        let error: EngineCallError = call.mayHaveApplied
            ? .outcomeUnknown("the shards did not confirm the transaction in time (\(call.lastReason)); it may or may not have taken effect — retry with the same request id to learn which")
            : .timeout("the shards did not answer in time (\(call.lastReason)); check that a majority of each shard's replicas is up and try again")
        finish(key, .failure(error))
    }

    private func finish(_ key: CallKey, _ result: Result<ShardClientOutcome, any Error>) {
        guard let call = calls.removeValue(forKey: key) else { return }
        // The lane takes the next call under its next sequence, even when this one may
        // still take effect (a deadline passed): the shards then refuse this one as
        // stale if it comes later, and its late answer names a call that is gone.
        if let lane = call.lane { idleLanes.append(lane) }
        call.attemptTimer?.cancel()
        call.retryTimer?.cancel()
        call.deadlineTimer?.cancel()
        call.promise.completeWith(result)
    }

    // MARK: local views

    /// The shards as this node sees them: its copy of the map, and each shard's leader
    /// as far as it knows (not linearizable; for operators).
    public func status() -> EventLoopFuture<ShardStatus> {
        loop.submit { [self] in
            guard let node else { throw EngineCallError.timeout("node \(nodeID.rawValue)'s sharded store is still starting; try again") }
            let map = node.shardMap
            let shards = map.allShards.map { descriptor in
                let machine = node.dataMachine(of: descriptor.id)
                return ShardStatus.Shard(id: descriptor.id, range: descriptor.range, generation: descriptor.generation,
                    voters: descriptor.replicas.voters, learners: descriptor.replicas.learners,
                    leader: node.knownLeader(of: descriptor.id), hostedHere: node.hostedShards.contains(descriptor.id),
                    keysHere: machine?.keyCount)
            }
            return ShardStatus(node: nodeID, mapVersion: map.version, nodes: map.nodes, decommissioning: map.decommissioning,
                shards: shards, stoppedReason: stoppedReason, counters: node.counters, hostCounters: counters)
        }
    }
}

/// What a node knows of the shards.
public struct ShardStatus: Sendable {
    public struct Shard: Sendable {
        public var id: ShardID
        public var range: KeySpan
        public var generation: UInt64
        public var voters: [NodeID]
        public var learners: [NodeID]
        public var leader: NodeID?
        public var hostedHere: Bool
        /// Keys in this node's replica (nil: not hosted here, or the meta group).
        public var keysHere: Int?
    }

    public var node: NodeID
    public var mapVersion: UInt64
    public var nodes: [NodeID]
    public var decommissioning: [NodeID]
    public var shards: [Shard]
    public var stoppedReason: String?
    public var counters: ShardNode.Counters
    public var hostCounters: ShardHost.Counters
}
