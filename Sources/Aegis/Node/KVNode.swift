/// One replicated key-value node: the shell around a Raft core, its log store and the
/// KV state machine. It is driven by events (ticks, messages) and does the Raft core's
/// bidding in the order that keeps acknowledgements honest:
///
/// 1. persist and sync the hard state, entries and any snapshot from the leader;
/// 2. send the messages (votes and acknowledgements only now mean something durable);
/// 3. apply the snapshot and the committed entries, answering the clients who wrote them;
/// 4. serve the reads whose ReadIndex the state machine has reached.
///
/// Clients may talk to any node; a follower redirects them to the leader it knows. A
/// write whose fate this node cannot know (it stopped leading while the write was
/// pending) is answered `unknown`, never "failed".
public final class KVNode: NodeProcess {
    public struct Configuration: Sendable {
        /// The voters a brand-new cluster starts with. A node not among them starts empty
        /// and waits for a leader to add it.
        public var initialVoters: [NodeID]
        public var tickNanoseconds: UInt64 = 10 * Nanoseconds.perMillisecond
        public var raft = RaftOptions()
        public var store = RaftLogStore.Options()
        /// Take a snapshot and compact the log after this many applied entries.
        public var snapshotEveryEntries = 1000
        /// Writes and reads waiting for Raft, at most; more are refused as busy.
        public var pendingRequestsMax = 1024
        public var sessionsMax = 10_000
        public var mutations = MutationSet.none

        public init(initialVoters: [NodeID]) {
            self.initialVoters = initialVoters
        }
    }

    /// What happened in the last step, for checkers outside the node. Read only.
    public struct StepObservations: Sendable {
        /// Runs of entries written to the log, each replacing it from its first index,
        /// with the term of the entry before the run (nil when compacted).
        public var persistedEntries: [(previousTerm: Term?, entries: [LogEntry])] = []
        /// A snapshot from the leader that replaced the log.
        public var installedSnapshot: SnapshotMetadata?
        /// Entries applied to the state machine, in order.
        public var applied: [(entry: LogEntry, command: KVStateMachine.Applied?)] = []
        /// Reads answered, with the index the state machine was at.
        public var readsServed: [(clientID: UInt64, sequence: UInt64, appliedIndex: LogIndex)] = []
    }

    struct PendingWrite {
        var client: NodeID
        var request: ClientRequest
        var term: Term
    }

    struct PendingRead {
        var client: NodeID
        var request: ClientRequest
        var index: LogIndex?
    }

    public let environment: NodeEnvironment
    // The doors, held one by one: reaching them through `environment` on every call
    // copies the whole struct of references.
    private let clock: any Clock
    private let timers: any Timers
    private let network: any Network
    public let configuration: Configuration
    public private(set) var raft: Raft!
    public let stateMachine: KVStateMachine
    let store: RaftLogStore
    public private(set) var recoveryReport: RaftLogStore.RecoveryReport?
    public private(set) var observations = StepObservations()
    /// Counters for summaries.
    public private(set) var malformedMessages = 0

    private var pendingWrites: [LogIndex: PendingWrite] = [:]
    /// Reads wait for a ReadIndex round: at most one round is in flight, and reads
    /// that arrive meanwhile share the next one (each round starts after its reads
    /// arrived, which is what makes them linearizable).
    private var waitingReads: [PendingRead] = []
    private var readRoundInFlight: (context: UInt64, reads: [PendingRead])?
    /// Reads whose index is known, waiting for the state machine to reach it.
    private var confirmedReads: [PendingRead] = []
    private var nextReadContext: UInt64 = 1
    private var pendingReadCount: Int { waitingReads.count + (readRoundInFlight?.reads.count ?? 0) + confirmedReads.count }
    private var tickTimer: TimerID?
    /// When the armed tick timer fires, on this node's monotonic clock.
    private var tickTimerDue: UInt64 = 0
    /// The monotonic time of the last tick delivered to Raft.
    private var lastTickNanoseconds: UInt64 = 0
    private var wasLeader = false

    public init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        clock = environment.clock
        timers = environment.timers
        network = environment.network
        self.configuration = configuration
        var storeOptions = configuration.store
        if configuration.mutations.contains(.raftAckBeforeSync) { storeOptions.skipSync = true }
        store = RaftLogStore(disk: environment.disk, options: storeOptions)
        stateMachine = KVStateMachine(sessionsMax: configuration.sessionsMax, mutations: configuration.mutations)
    }

    public var node: NodeID { environment.node }

    // MARK: NodeProcess

    public func start() throws(DiskError) {
        observations = StepObservations()
        let bootstrap = ClusterConfiguration(voters: configuration.initialVoters)
        let (recovered, report) = try store.recover(
            bootstrap: configuration.initialVoters.contains(node) ? bootstrap : .empty)
        recoveryReport = report
        if (try? stateMachine.restore(recovered.snapshot.data, at: recovered.snapshot.metadata.index)) == nil {
            // The snapshot passed its checksum but does not decode: a bug, not a disk fault.
            preconditionFailure("\(node): the recovered snapshot does not decode")
        }
        raft = Raft(id: node, options: configuration.raft, recovered: recovered,
            entropy: environment.entropy, mutations: configuration.mutations)
        lastTickNanoseconds = clock.monotonicNanoseconds
        try processReady()
        scheduleTick()
    }

    public func handle(_ event: NodeEvent) throws(DiskError) {
        try handle(batch: CollectionOfOne(event))
    }

    /// Steps several events, then does Raft's bidding once: one persist and one sync for
    /// every proposal and message among them (group commit). The runtime hands over
    /// everything that arrived in one turn of its event loop.
    public func handle<Events: Sequence<NodeEvent>>(batch events: Events) throws(DiskError) {
        observations = StepObservations()
        deliverDueTicks()
        var acted = false
        for event in events {
            switch event {
            case let .timer(timer):
                // A timer this node re-armed since is stale: it does nothing.
                guard timer == tickTimer else { continue }
                tickTimer = nil
            case let .message(sender, bytes):
                receive(from: sender, bytes)
            }
            acted = true
        }
        guard acted else { return }
        try processReady()
        scheduleTick()
    }

    /// Raft counts ticks of `tickNanoseconds`. Rather than wake every tick, the node
    /// wakes when a tick could make Raft act, and before any event hands Raft the ticks
    /// that passed since the last one — the same ticks, in the same order.
    private func deliverDueTicks() {
        let now = clock.monotonicNanoseconds
        let interval = configuration.tickNanoseconds
        while now >= lastTickNanoseconds + interval {
            lastTickNanoseconds += interval
            raft.tick()
        }
    }

    private func scheduleTick() {
        let now = clock.monotonicNanoseconds
        let due = lastTickNanoseconds + UInt64(raft.ticksUntilAction) * configuration.tickNanoseconds
        if tickTimer != nil && tickTimerDue <= due { return }
        if let tickTimer { timers.cancel(tickTimer) }
        tickTimerDue = max(due, now + 1)
        tickTimer = timers.arm(afterNanoseconds: tickTimerDue - now)
    }

    private func receive(from sender: NodeID, _ bytes: [UInt8]) {
        switch bytes.first {
        case RaftMessage.wireTag:
            guard let message = try? RaftMessage.decode(bytes), message.from == sender else {
                malformedMessages += 1
                return
            }
            raft.step(message)
        case ClientRequest.wireTag:
            guard let request = try? ClientRequest.decode(bytes) else {
                malformedMessages += 1
                return
            }
            handleClient(request, bytes, from: sender)
        default:
            malformedMessages += 1
        }
    }

    // MARK: clients

    private func respond(to client: NodeID, _ request: ClientRequest, _ outcome: ClientResponse.Outcome) {
        let response = ClientResponse(clientID: request.clientID, sequence: request.sequence, outcome: outcome)
        network.send(to: client, bytes: response.encoded)
    }

    /// `bytes` is the request as it arrived: a write goes into the log as those bytes.
    private func handleClient(_ request: ClientRequest, _ bytes: [UInt8], from client: NodeID) {
        if case .get = request.operation, configuration.mutations.contains(.raftFollowerRead) {
            // Planted bug: answer from whatever this node has applied.
            serveRead(PendingRead(client: client, request: request, index: nil))
            return
        }
        guard raft.role == .leader else {
            respond(to: client, request, .redirect(leader: raft.leader))
            return
        }
        guard pendingWrites.count + pendingReadCount < configuration.pendingRequestsMax else {
            respond(to: client, request, .unavailable("node \(node) has \(configuration.pendingRequestsMax) requests pending; retry shortly"))
            return
        }
        switch request.operation {
        case .get, .scan, .sql(_, _, readOnly: true):
            waitingReads.append(PendingRead(client: client, request: request, index: nil))
            if readRoundInFlight == nil { startReadRound() }
        case .status:
            respond(to: client, request, .ok(.status(ClusterStatus(leader: node, term: raft.term,
                commitIndex: raft.log.committed, configuration: raft.configuration))))
        case let .transferLeadership(target):
            let started = raft.transferLeadership(to: target)
            respond(to: client, request, started ? .ok(.transferStarted)
                : .unavailable("\(target) is not a voter this leader can hand over to"))
        case let .changeMembership(change):
            propose(request, from: client, result: raft.proposeConfigurationChange(change))
        case .put, .delete, .compareAndSet, .sql:
            if let cached = stateMachine.sessionResult(clientID: request.clientID, sequence: request.sequence) {
                // A retry of a write already applied: answer from the session.
                respond(to: client, request, .ok(cached))
                return
            }
            propose(request, from: client, result: raft.propose(bytes))
        }
    }

    private func propose(_ request: ClientRequest, from client: NodeID, result: ProposalResult) {
        switch result {
        case let .appended(index, term):
            if let displaced = pendingWrites[index] {
                respond(to: displaced.client, displaced.request, .unknown("its log entry was replaced"))
            }
            pendingWrites[index] = PendingWrite(client: client, request: request, term: term)
        case let .notLeader(leader):
            respond(to: client, request, .redirect(leader: leader))
        case let .refused(reason):
            respond(to: client, request, .unavailable(reason))
        }
    }

    private func startReadRound() {
        guard !waitingReads.isEmpty else { return }
        let context = nextReadContext
        nextReadContext += 1
        let reads = waitingReads
        waitingReads.removeAll()
        if case let .notLeader(leader) = raft.readIndex(context: context) {
            for read in reads { respond(to: read.client, read.request, .redirect(leader: leader)) }
            return
        }
        readRoundInFlight = (context, reads)
    }

    private func serveRead(_ read: PendingRead) {
        let result: KVResult
        switch read.request.operation {
        case let .get(key): result = .value(stateMachine.read(key))
        case let .scan(prefix, limit): result = stateMachine.scan(prefix: prefix, limit: limit)
        case let .sql(text, parameters, _): result = stateMachine.readSQL(text, parameters)
        default: return
        }
        observations.readsServed.append((read.request.clientID, read.request.sequence, stateMachine.appliedIndex))
        respond(to: read.client, read.request, .ok(result))
    }

    // MARK: the Ready loop

    private func processReady() throws(DiskError) {
        while let ready = raft.nextReady() {
            if ready.mustPersist {
                try store.persist(hardState: raft.hardState, entries: ready.entries, snapshot: ready.snapshot)
                if let first = ready.entries.first {
                    observations.persistedEntries.append((raft.log.term(at: first.index.previous), ready.entries))
                }
            }
            for message in ready.messages {
                network.send(to: message.to, bytes: message.encoded)
            }
            if let snapshot = ready.snapshot { installSnapshot(snapshot) }
            for entry in ready.committedEntries { apply(entry) }
            for state in ready.readStates {
                guard let round = readRoundInFlight, round.context == state.context else { continue }
                readRoundInFlight = nil
                confirmedReads += round.reads.map { read in
                    var confirmed = read
                    confirmed.index = state.index
                    return confirmed
                }
                startReadRound()
            }
            serveReadyReads()
            try maybeCompact()
        }
        noticeLeadershipChange()
    }

    private func installSnapshot(_ snapshot: Snapshot) {
        do {
            try stateMachine.restore(snapshot.data, at: snapshot.metadata.index)
        } catch {
            preconditionFailure("\(node): a snapshot that passed its checksum does not decode: \(error)")
        }
        observations.installedSnapshot = snapshot.metadata
        // Writes pending at or below the snapshot: their outcome is no longer known here.
        for index in pendingWrites.keys.sorted() where index <= snapshot.metadata.index {
            let write = pendingWrites.removeValue(forKey: index)!
            respond(to: write.client, write.request, .unknown("replaced by a snapshot; retry to learn the outcome"))
        }
    }

    private func apply(_ entry: LogEntry) {
        let applied = stateMachine.apply(entry)
        observations.applied.append((entry, applied))
        guard let write = pendingWrites.removeValue(forKey: entry.index) else { return }
        if entry.term != write.term {
            respond(to: write.client, write.request, .unknown("its log entry was replaced by another leader's"))
        } else if let applied {
            respond(to: write.client, write.request, .ok(applied.result))
        } else {
            respond(to: write.client, write.request, .ok(.membershipChanged))
        }
    }

    private func serveReadyReads() {
        guard !confirmedReads.isEmpty else { return }
        let applied = stateMachine.appliedIndex
        var waiting: [PendingRead] = []
        for read in confirmedReads {
            if let index = read.index, applied >= index { serveRead(read) } else { waiting.append(read) }
        }
        confirmedReads = waiting
    }

    private func maybeCompact() throws(DiskError) {
        let applied = stateMachine.appliedIndex
        guard applied.rawValue >= raft.log.snapshot.index.rawValue + UInt64(configuration.snapshotEveryEntries) else { return }
        if let snapshot = raft.compact(toSnapshotWith: stateMachine.snapshot(), at: applied) {
            try store.saveSnapshot(snapshot)
        }
    }

    /// A leader that stops leading cannot finish what is pending: tell the clients.
    private func noticeLeadershipChange() {
        let isLeader = raft.role == .leader
        defer { wasLeader = isLeader }
        guard wasLeader, !isLeader else { return }
        for index in pendingWrites.keys.sorted() {
            let write = pendingWrites[index]!
            respond(to: write.client, write.request, .unknown("\(node) stopped leading; retry to learn the outcome"))
        }
        pendingWrites.removeAll()
        for read in confirmedReads + (readRoundInFlight?.reads ?? []) + waitingReads {
            respond(to: read.client, read.request, .redirect(leader: raft.leader))
        }
        confirmedReads.removeAll()
        readRoundInFlight = nil
        waitingReads.removeAll()
    }
}
