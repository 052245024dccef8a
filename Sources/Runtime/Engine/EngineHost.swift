import Aegis
import Logging
import NIOCore

/// Runs one `KVNode` on one NIO event loop and carries client calls to it.
///
/// Everything the node touches happens on `loop`: its timers fire there, peer
/// messages are handed to it there, and calls from HTTP handlers (any thread) hop onto
/// it. The node answers a client by sending a `ClientResponse` to the client's node id;
/// the host's network door catches answers addressed to this node and gives them to the
/// waiting call.
///
/// A call starts at the local node. A follower redirects it; the host then sends the
/// same request to the leader over the peer transport (the leader answers back over it),
/// so any node serves every call. A call that learns nothing useful (no leader yet, a
/// leader that stopped leading, an unknown outcome, no answer) is retried with the
/// *same* client id and sequence until its deadline, and the state machine's sessions
/// apply it at most once.
public final class EngineHost: @unchecked Sendable {
    public let loop: any EventLoop
    public let nodeID: NodeID
    public let httpAddress: String
    let transport: PeerTransport
    private let logger: Logger
    private let timers: LoopTimers
    private let disk: FileDisk
    private let configuration: KVNode.Configuration
    private let metrics: ServerMetrics
    private var node: KVNode!
    private var stoppedReason: String?
    /// Called once, on the loop, when the node stops for good (its disk failed).
    public var onFatal: @Sendable (String) -> Void = { _ in }

    /// Peers' HTTP addresses, learned from their hellos.
    private var httpAddresses: [NodeID: String] = [:]
    private var calls: [CallKey: Call] = [:]
    private var freeLanes: [Lane] = []
    private var laneCount = 0
    private let entropy = SystemEntropy()
    public private(set) var counters = Counters()

    public struct Counters: Sendable {
        public var callsStarted = 0
        public var callsSucceeded = 0
        public var callsFailed = 0
        public var forwarded = 0
        public var retries = 0
        public var leaderChanges = 0
    }

    /// A gateway lane is one client session: a client id and its next sequence. A call
    /// takes a free lane, so sequences of one session never overlap; lanes are reused,
    /// keeping the state machine's session table small.
    private struct Lane {
        var clientID: UInt64
        var nextSequence: UInt64
    }

    public static let lanesMax = 1024
    /// How long one attempt waits for an answer before the call is retried.
    static let attemptTimeout = TimeAmount.seconds(1)
    static let retryDelay = TimeAmount.milliseconds(50)
    static let forwardHopsMax = 4

    struct CallKey: Hashable {
        var clientID: UInt64
        var sequence: UInt64
    }

    private final class Call {
        let request: ClientRequest
        let promise: EventLoopPromise<KVResult>
        let lane: Lane?
        var target: NodeID
        var hops = 0
        var lastReason = "no answer yet"
        var mayHaveApplied = false
        var attemptTimer: Scheduled<Void>?
        var retryTimer: Scheduled<Void>?
        var deadlineTimer: Scheduled<Void>?

        init(request: ClientRequest, promise: EventLoopPromise<KVResult>, lane: Lane?, target: NodeID) {
            self.request = request
            self.promise = promise
            self.lane = lane
            self.target = target
        }
    }

    /// The sharded key-value store beside the node, when the server runs one (its
    /// messages share the peer transport behind `ShardHost.channelTag`). Set before
    /// `start`.
    public internal(set) var shardHost: ShardHost?

    init(loop: any EventLoop, nodeID: NodeID, httpAddress: String, disk: FileDisk, transport: PeerTransport,
         configuration: KVNode.Configuration, metrics: ServerMetrics, logger: Logger) {
        self.metrics = metrics
        self.loop = loop
        self.nodeID = nodeID
        self.httpAddress = httpAddress
        self.disk = disk
        self.transport = transport
        self.configuration = configuration
        self.logger = logger
        timers = LoopTimers(loop: loop)
    }

    /// Recovers the node from its disk and starts it; on the loop.
    func start() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            timers.fire = { [unowned self] timer in drive(.timer(timer)) }
            transport.onMessage = { [unowned self] sender, bytes in received(bytes, from: sender) }
            transport.onHello = { [unowned self] hello in httpAddresses[hello.node] = hello.httpAddress }
            let network = HostNetwork(host: self)
            let environment = NodeEnvironment(node: nodeID, clock: SystemClock(), timers: timers, disk: disk,
                network: network, entropy: entropy)
            node = KVNode(environment: environment, configuration: configuration)
            try node.start()
            if let report = node.recoveryReport {
                logger.info("node \(nodeID.rawValue) recovered from disk: \(report)")
            }
        }
    }

    /// Stops the node: pending calls fail, timers stop. The disk holds what was synced.
    func stop() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            halt("the node is shutting down")
        }
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

    /// Events waiting for the next turn of the loop, handed to the node together.
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
        let wasLeader = node.raft.leader
        let started = ContinuousClock.now
        do {
            try node.handle(batch: events)
            if !node.observations.persistedEntries.isEmpty {
                let elapsed = ContinuousClock.now - started
                metrics.appendDuration.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            }
        } catch {
            let reason = "node \(nodeID.rawValue) stopped: its disk failed (\(error)); fix the disk and restart it, it recovers from what was synced"
            logger.critical("\(reason)")
            halt(reason)
            onFatal(reason)
            return
        }
        if node.raft.leader != wasLeader {
            counters.leaderChanges += 1
            metrics.leaderChanges.increment()
        }
    }

    private func received(_ bytes: [UInt8], from sender: NodeID) {
        if bytes.first == ShardHost.channelTag {
            shardHost?.received(Array(bytes.dropFirst()), from: sender)
            return
        }
        if bytes.first == ClientResponse.wireTag {
            if let response = try? ClientResponse.decode(bytes) { answered(response) }
            return
        }
        drive(.message(from: sender, bytes: bytes))
    }

    /// The network door the node sends through.
    private final class HostNetwork: Network {
        unowned let host: EngineHost
        init(host: EngineHost) { self.host = host }
        var localNode: NodeID { host.nodeID }

        func send(to target: NodeID, bytes: [UInt8]) {
            if target == host.nodeID {
                // An answer to a call that came in through this node.
                if bytes.first == ClientResponse.wireTag, let response = try? ClientResponse.decode(bytes) {
                    host.answered(response)
                }
                return
            }
            host.transport.send(to: target, bytes)
        }
    }

    // MARK: calls

    /// Carries one operation to the cluster and answers with its result. `identity`
    /// (a client id and sequence) makes retries of the same call apply once; without
    /// it the host uses a session lane of its own.
    public func call(_ operation: KVOperation, identity: (clientID: UInt64, sequence: UInt64)? = nil,
                     timeout: TimeAmount) -> EventLoopFuture<KVResult> {
        loop.flatSubmit { [self] in
            if let stoppedReason { return loop.makeFailedFuture(EngineCallError.stopped(stoppedReason)) }
            var lane: Lane?
            let key: CallKey
            if let identity {
                guard identity.clientID != 0, identity.sequence != 0 else {
                    return loop.makeFailedFuture(EngineCallError.badRequest("a request id needs a non-zero client id and sequence"))
                }
                key = CallKey(clientID: identity.clientID, sequence: identity.sequence)
                if let running = calls[key] { return running.promise.futureResult }
            } else {
                guard let taken = takeLane() else {
                    return loop.makeFailedFuture(EngineCallError.busy("node \(nodeID.rawValue) has \(EngineHost.lanesMax) calls in flight; retry shortly"))
                }
                lane = taken
                key = CallKey(clientID: taken.clientID, sequence: taken.nextSequence)
            }
            counters.callsStarted += 1
            let request = ClientRequest(clientID: key.clientID, sequence: key.sequence, operation: operation)
            let call = Call(request: request, promise: loop.makePromise(), lane: lane, target: nodeID)
            calls[key] = call
            call.deadlineTimer = loop.scheduleTask(in: timeout) { [self] in deadlinePassed(key) }
            attempt(key, at: nodeID)
            return call.promise.futureResult
        }
    }

    private func takeLane() -> Lane? {
        if let lane = freeLanes.popLast() { return lane }
        guard laneCount < EngineHost.lanesMax else { return nil }
        laneCount += 1
        var clientID: UInt64 = 0
        while clientID == 0 { clientID = entropy.nextUInt64() }
        return Lane(clientID: clientID, nextSequence: 1)
    }

    private func attempt(_ key: CallKey, at target: NodeID) {
        guard let call = calls[key] else { return }
        call.target = target
        call.retryTimer = nil
        call.attemptTimer?.cancel()
        call.attemptTimer = loop.scheduleTask(in: EngineHost.attemptTimeout) { [self] in
            guard let call = calls[key] else { return }
            call.mayHaveApplied = call.mayHaveApplied || !call.request.operation.isRead
            retryLater(key, reason: "node \(call.target.rawValue) did not answer within \(EngineHost.attemptTimeout.nanoseconds / 1_000_000) ms")
        }
        let bytes = call.request.encoded
        if target == nodeID {
            // Queued, never handed to the node from inside its own step.
            drive(.message(from: nodeID, bytes: bytes))
        } else {
            counters.forwarded += 1
            transport.send(to: target, bytes)
        }
    }

    private func answered(_ response: ClientResponse) {
        let key = CallKey(clientID: response.clientID, sequence: response.sequence)
        guard let call = calls[key] else { return }
        switch response.outcome {
        case let .ok(result):
            if case .sessionExpired = result {
                finish(key, .failure(EngineCallError.outcomeUnknown("this request's session was forgotten by the cluster, so whether it took effect is unknown")))
            } else {
                finish(key, .success(result))
            }
        case let .redirect(leader):
            if let leader, leader != call.target, call.hops < EngineHost.forwardHopsMax,
               leader == nodeID || transport.knownPeers[leader] != nil {
                call.hops += 1
                attempt(key, at: leader)
            } else {
                retryLater(key, reason: leader.map { "node \($0.rawValue) leads but cannot be reached from here" } ?? "no leader is elected yet")
            }
        case let .unavailable(reason):
            retryLater(key, reason: reason)
        case let .unknown(reason):
            call.mayHaveApplied = true
            retryLater(key, reason: reason)
        }
    }

    private func retryLater(_ key: CallKey, reason: String) {
        guard let call = calls[key] else { return }
        call.lastReason = reason
        call.attemptTimer?.cancel()
        call.attemptTimer = nil
        guard call.retryTimer == nil else { return }
        counters.retries += 1
        call.hops = 0
        call.retryTimer = loop.scheduleTask(in: EngineHost.retryDelay) { [self] in attempt(key, at: nodeID) }
    }

    private func deadlinePassed(_ key: CallKey) {
        guard let call = calls[key] else { return }
        let error: EngineCallError = call.mayHaveApplied
            ? .outcomeUnknown("the cluster did not confirm the write in time (\(call.lastReason)); it may or may not have taken effect — retry with the same request id to learn which")
            : .timeout("the cluster did not answer in time (\(call.lastReason)); check that a majority of nodes is up and try again")
        finish(key, .failure(error))
    }

    private func finish(_ key: CallKey, _ result: Result<KVResult, any Error>) {
        guard let call = calls.removeValue(forKey: key) else { return }
        call.attemptTimer?.cancel()
        call.retryTimer?.cancel()
        call.deadlineTimer?.cancel()
        if var lane = call.lane {
            lane.nextSequence += 1
            freeLanes.append(lane)
        }
        switch result {
        case .success: counters.callsSucceeded += 1
        case .failure: counters.callsFailed += 1
        }
        call.promise.completeWith(result)
    }

    // MARK: local views

    /// This node's view of the cluster (not linearizable; for operators and health).
    public func status() -> EventLoopFuture<NodeStatus> {
        loop.submit { [self] in
            let raft = node.raft!
            var peers: [NodeStatus.Peer] = []
            let known = transport.knownPeers
            let ids = Set(known.keys).union(raft.configuration.members).subtracting([nodeID]).sorted()
            for id in ids {
                peers.append(NodeStatus.Peer(id: id, peerAddress: known[id]?.description, httpAddress: httpAddresses[id],
                    role: raft.configuration.voters.contains(id) ? "voter" : raft.configuration.learners.contains(id) ? "learner" : "not a member"))
            }
            let leaderHTTP = raft.leader.flatMap { $0 == nodeID ? httpAddress : httpAddresses[$0] }
            return NodeStatus(node: nodeID, role: "\(raft.role)", term: raft.term.rawValue, leader: raft.leader,
                leaderHTTPAddress: leaderHTTP, commitIndex: raft.log.committed.rawValue,
                appliedIndex: node.stateMachine.appliedIndex.rawValue, lastIndex: raft.log.lastIndex.rawValue,
                voters: raft.configuration.voters, learners: raft.configuration.learners, peers: peers,
                keys: node.stateMachine.keyCount, stoppedReason: stoppedReason, counters: counters,
                transportDropped: transport.droppedMessages, transportRejected: transport.rejectedConnections)
        }
    }

    /// The value this node has applied for `key` — possibly stale; a guess for
    /// compare-and-set loops, never an answer to a client.
    public func localRead(_ key: [UInt8]) -> EventLoopFuture<[UInt8]?> {
        loop.submit { [self] in node?.stateMachine.read(key) }
    }

    /// A scan of what this node has applied — possibly stale (`?consistency=local`).
    public func localScan(prefix: [UInt8], limit: Int) -> EventLoopFuture<KVResult> {
        loop.submit { [self] in node.stateMachine.scan(prefix: prefix, limit: limit) }
    }

    /// The SQL schema this node has applied — possibly stale.
    public func localCatalog() -> EventLoopFuture<Catalog> {
        loop.submit { [self] in node.stateMachine.sqlCatalog }
    }

    /// Tells the transport where a node listens for peers (a node being added).
    public func learnPeer(_ node: NodeID, at address: HostPort) -> EventLoopFuture<Void> {
        loop.submit { [self] in transport.learn(node, at: address) }
    }
}

/// What a node knows of itself and the cluster.
public struct NodeStatus: Sendable {
    public struct Peer: Sendable {
        public var id: NodeID
        public var peerAddress: String?
        public var httpAddress: String?
        public var role: String
    }

    public var node: NodeID
    public var role: String
    public var term: UInt64
    public var leader: NodeID?
    public var leaderHTTPAddress: String?
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastIndex: UInt64
    public var voters: [NodeID]
    public var learners: [NodeID]
    public var peers: [Peer]
    public var keys: Int
    public var stoppedReason: String?
    public var counters: EngineHost.Counters
    public var transportDropped: Int
    public var transportRejected: Int
}

/// Why a call to the cluster did not produce a result; each a sentence with what to do.
public enum EngineCallError: Error, CustomStringConvertible {
    case timeout(String)
    case outcomeUnknown(String)
    case busy(String)
    case stopped(String)
    case badRequest(String)

    public var description: String {
        switch self {
        case let .timeout(text), let .outcomeUnknown(text), let .busy(text), let .stopped(text), let .badRequest(text):
            return text
        }
    }
}
