/// One node of a sharded cluster: it hosts many Raft groups (the meta group that keeps
/// the shard map, and data shards), and plays every role a node can play:
///
/// - **replica host** (this file): one log store for all its groups (one sync per round
///   of work, however many groups wrote), Raft messages to each peer batched across
///   groups, one tick timer for all of them; replicas created when a group first
///   messages this node, by a split, or at founding, and destroyed (with a tombstone)
///   when their group removes this node;
/// - **gateway** (`+Gateway`): clients send transactions to any node; it plans them
///   against its copy of the shard map and carries them to the shards' leaders,
///   retrying on a new leader or a stale map with the same transaction id;
/// - **coordinator and participant** (`+Transactions`): the leaders of the shards a
///   transaction touches run two-phase commit between them;
/// - **placement** (`+Placement`): every leader reports its shards to the meta leader,
///   which splits big shards, moves replicas, drains decommissioned nodes, and orders
///   the changes from the shards' leaders.
///
/// The order of each round keeps acknowledgements honest, as in `KVNode`: persist and
/// sync, then send Raft messages, then apply committed entries and act on them.
public final class ShardNode: NodeProcess {
    public struct PlacementOptions: Sendable, Equatable {
        /// Split a shard holding more keys than this (0: never by size).
        public var splitKeysMin = 0
        /// Split a shard whose leader applied more transaction operations (reads and
        /// writes) than this per second between two reports (0: never by load).
        public var splitOperationsPerSecondMin = 0.0
        /// Move replicas so nodes hold about as many each.
        public var rebalance = true
        /// Replica changes the driver has under way at once, across the cluster.
        public var changesInFlightMax = 2
        /// Hand leadership from a node leading two or more groups more than another
        /// voter does, one shard at a time.
        public var balanceLeaders = true

        public init() {}
    }

    public struct Configuration: Sendable {
        public var layout: ShardLayout
        public var tickNanoseconds: UInt64 = 10 * Nanoseconds.perMillisecond
        public var raft = RaftOptions()
        public var store = MultiRaftLogStore.Options()
        /// Take a snapshot of a group and compact its log after this many applied entries.
        public var snapshotEveryEntries = 1000
        /// Past this many log segments, the groups that keep the oldest alive are made to snapshot.
        public var segmentsMax = 8
        /// Client calls a gateway carries at once; more are refused as busy.
        public var gatewayCallsMax = 4096
        /// A gateway tries another node after this long without an answer to an attempt.
        public var attemptTicks = 30
        /// A gateway gives up on a call after this long (answering unknown when it may
        /// have taken effect).
        public var callDeadlineTicks = 600
        /// A coordinator asks again for the votes it lacks after this long.
        public var prepareResendTicks = 25
        /// A coordinator aborts a transaction still missing votes after this long.
        public var decisionTimeoutTicks = 300
        /// A participant asks the coordinator for the decision after waiting this long.
        public var resolveAfterTicks = 150
        /// Leaders report their shards to the meta leader this often.
        public var reportTicks = 50
        public var placement = PlacementOptions()
        public var machine = ShardStateMachine.Options()
        public var mutations = MutationSet.none

        public init(layout: ShardLayout) {
            self.layout = layout
        }
    }

    enum Machine {
        case data(ShardStateMachine)
        case meta(MetaStateMachine)
        /// Created by a message, waiting for a snapshot from the group's leader.
        case uninitialized

        var appliedIndex: LogIndex {
            switch self {
            case let .data(machine): return machine.appliedIndex
            case let .meta(machine): return machine.appliedIndex
            case .uninitialized: return .zero
            }
        }

        var digest: UInt64 {
            switch self {
            case let .data(machine): return machine.digest
            case let .meta(machine): return machine.digest
            case .uninitialized: return 0
            }
        }
    }

    /// Who waits for a proposal's entry to apply.
    enum Waiter {
        case gateway(node: NodeID, request: UInt64)
        case order(node: NodeID, request: UInt64)
        case allocation
        case none
    }

    struct Proposal {
        var term: Term
        var waiter: Waiter
    }

    final class Replica {
        let shard: ShardID
        var raft: Raft
        var machine: Machine
        var appliedConfiguration: (index: LogIndex, configuration: ClusterConfiguration)
        var appliedSinceSnapshot = 0
        var proposals: [LogIndex: Proposal] = [:]
        var wasLeader = false
        /// The leader its Raft named at the last round (hints change only on news).
        var leaderSeen: NodeID?
        var destroyed = false

        init(shard: ShardID, raft: Raft, machine: Machine, configuration: (LogIndex, ClusterConfiguration)) {
            self.shard = shard
            self.raft = raft
            self.machine = machine
            appliedConfiguration = configuration
        }

        var isLeader: Bool { raft.role == .leader }
    }

    /// What one group did in the last step, for checkers outside the node. Read only.
    public struct GroupObservations: Sendable {
        public var persistedEntries: [(previousTerm: Term?, entries: [LogEntry])] = []
        public var installedSnapshot: SnapshotMetadata?
        public var applied: [LogEntry] = []
        public var effects: [ShardEffect] = []
    }

    public let environment: NodeEnvironment
    let clock: any Clock
    let timers: any Timers
    let network: any Network
    public let configuration: Configuration
    let store: MultiRaftLogStore
    let hlc: HybridLogicalClock
    /// The state machines' options, with the planted bugs that live there.
    let machineOptions: ShardStateMachine.Options
    public private(set) var recoveryReport: MultiRaftLogStore.RecoveryReport?

    var replicas: [ShardID: Replica] = [:]
    /// The hosted groups in id order: every walk over them goes this way.
    var replicaOrder: [ShardID] = []
    var observationsByGroup: [ShardID: GroupObservations] = [:]
    /// Node-level events of the last step, for coverage outside the node.
    public internal(set) var stepNotes: [StepNote] = []

    public enum StepNote: Sendable, Equatable {
        case replicaCreatedByMessage(ShardID)
        case replicaDestroyed(ShardID)
        case replicaRevived(ShardID)
        case placementOrderIssued
        case loadSplitOrdered
        case resolveAsked
        case staleMapReplanned
    }
    /// Shard messages to this node itself, handled in the same step.
    var localInbox: [ShardMessage] = []

    // The gateway, coordinator, participant and placement state (volatile).
    var map: ShardMap
    var leaderHints: [ShardID: NodeID] = [:]
    var calls: [TransactionID: GatewayCall] = [:]
    var reads: [UInt64: GatewayRead] = [:]
    var callByRequest: [UInt64: TransactionID] = [:]
    /// Request ids name a gateway's attempts in leaders' answers. Each start draws a
    /// fresh base, so an answer to an attempt made before a restart (a leader's waiter
    /// outlives the gateway) can never be taken for a new call's answer (found by
    /// list-append seed 76: a restarted gateway counted from 1 again and answered a
    /// transaction with another's reads). 0 is never used.
    var nextRequestID: UInt64 = 1
    var mapRequestedAtTick: UInt64?
    var coordinations: [TransactionID: Coordination] = [:]
    var finishing: [TransactionID: Finishing] = [:]
    var resolvers: [TransactionID: [ShardID]] = [:]
    var participantWaits: [ParticipantKey: ParticipantWait] = [:]
    var placement = PlacementState()
    /// Counters for summaries and figures.
    public internal(set) var counters = Counters()

    public struct Counters: Sendable, Equatable {
        public var malformedMessages = 0
        public var raftBatchesSent = 0
        public var raftMessagesSent = 0
        public var replicasCreatedByMessage = 0
        public var replicasDestroyed = 0
        /// Destroyed on the placement driver's order (their group removed this node).
        public var replicasDropped = 0
        /// New replicas started from a tombstone (`host` orders).
        public var replicasRevived = 0
        public var splitsApplied = 0
        public var loadSplitsOrdered = 0
        public var leadershipBalanced = 0
        public var splitsRefused = 0
        public var onePhaseCommits = 0
        public var twoPhaseCommits = 0
        public var twoPhaseAborts = 0
        public var resolvesSent = 0
        public var decisionTimeouts = 0
        public var staleMapReplies = 0
        public var ordersIssued = 0
        public var mapUpdatesProposed = 0

        public init() {}
    }

    private var tickTimer: TimerID?
    private var tickTimerDue: UInt64 = 0
    private var lastTickNanoseconds: UInt64 = 0
    /// Ticks delivered since start (the logical time of every volatile deadline).
    public private(set) var ticks: UInt64 = 0
    /// When the periodic duties are next due. Deadlines, not `ticks % period`: a node
    /// that slept is handed many ticks at once and would step over a multiple.
    var nextReportTick: UInt64 = 0
    var nextMapRefreshTick: UInt64 = 0
    var nextPlacementTick: UInt64 = 0
    /// When a `host` order last came for each shard (a late `drop` must not undo it).
    var hostOrderedAtTick: [ShardID: UInt64] = [:]

    public init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        clock = environment.clock
        timers = environment.timers
        network = environment.network
        self.configuration = configuration
        var storeOptions = configuration.store
        if configuration.mutations.contains(.raftAckBeforeSync) { storeOptions.skipSync = true }
        store = MultiRaftLogStore(disk: environment.disk, options: storeOptions)
        hlc = HybridLogicalClock(clock: environment.clock)
        var options = configuration.machine
        options.releaseLocksEarly = options.releaseLocksEarly || configuration.mutations.contains(.txnReleaseLocksEarly)
        options.skipRangeCheck = options.skipRangeCheck || configuration.mutations.contains(.shardStaleRoute)
        machineOptions = options
        map = configuration.layout.initialMap
    }

    public var node: NodeID { environment.node }
    var mutations: MutationSet { configuration.mutations }

    // MARK: NodeProcess

    public func start() throws(DiskError) {
        observationsByGroup.removeAll()
        stepNotes.removeAll()
        nextRequestID = max(1, environment.entropy.nextUInt64() >> 1)
        let (recovered, report) = try store.recover()
        recoveryReport = report
        if recovered.groups.isEmpty && recovered.tombstones.isEmpty {
            let founded = configuration.layout.foundedGroups(on: node, options: machineOptions)
            try store.createGroups(founded)
            for (group, state) in founded { addReplica(group, state) }
        } else {
            for (group, state) in recovered.groups { addReplica(group, state) }
        }
        if let meta = replicas[.meta], case let .meta(machine) = meta.machine { adoptMap(machine.map) }
        lastTickNanoseconds = clock.monotonicNanoseconds
        try processReady()
        scheduleTick()
    }

    public func handle(_ event: NodeEvent) throws(DiskError) {
        try handle(batch: CollectionOfOne(event))
    }

    /// Steps several events, then does the groups' bidding once: one persist and one
    /// sync for every group that wrote.
    public func handle<Events: Sequence<NodeEvent>>(batch events: Events) throws(DiskError) {
        observationsByGroup.removeAll(keepingCapacity: true)
        stepNotes.removeAll(keepingCapacity: true)
        var acted = false
        let ticked = deliverDueTicks()
        for event in events {
            switch event {
            case let .timer(timer):
                guard timer == tickTimer else { continue }
                tickTimer = nil
            case let .message(sender, bytes):
                try receive(from: sender, bytes)
            }
            acted = true
        }
        guard acted || ticked else { return }
        if ticked {
            protocolTick()
        }
        try drainLocalInbox()
        try processReady()
        try drainLocalInbox()
        scheduleTick()
    }

    /// Hands every group the ticks that passed; returns whether any did.
    private func deliverDueTicks() -> Bool {
        let now = clock.monotonicNanoseconds
        let interval = configuration.tickNanoseconds
        var delivered = false
        while now >= lastTickNanoseconds + interval {
            lastTickNanoseconds += interval
            ticks += 1
            delivered = true
            for shard in replicaOrder { replicas[shard]!.raft.tick() }
        }
        return delivered
    }

    /// The node wakes when a group's next tick could act, or at once when volatile
    /// protocol work (calls, coordinations, waits) needs its deadlines watched.
    private func scheduleTick() {
        let now = clock.monotonicNanoseconds
        var ticksAhead = Int(clamping: nextReportTick > ticks ? nextReportTick - ticks : 1)
        if !calls.isEmpty || !reads.isEmpty || !coordinations.isEmpty || !finishing.isEmpty || !participantWaits.isEmpty || !localInbox.isEmpty {
            ticksAhead = 1
        }
        for shard in replicaOrder where ticksAhead > 1 { ticksAhead = min(ticksAhead, replicas[shard]!.raft.ticksUntilAction) }
        let due = lastTickNanoseconds + UInt64(max(1, ticksAhead)) * configuration.tickNanoseconds
        if tickTimer != nil && tickTimerDue <= due { return }
        if let tickTimer { timers.cancel(tickTimer) }
        tickTimerDue = max(due, now + 1)
        tickTimer = timers.arm(afterNanoseconds: tickTimerDue - now)
    }

    private func receive(from sender: NodeID, _ bytes: [UInt8]) throws(DiskError) {
        switch bytes.first {
        case RaftBatch.wireTag:
            guard let batch = try? RaftBatch.decode(bytes) else {
                counters.malformedMessages += 1
                return
            }
            for (group, message) in batch.messages {
                guard message.from == sender, message.to == node else {
                    counters.malformedMessages += 1
                    continue
                }
                stepRaft(group, message)
            }
        case ShardMessage.wireTag:
            guard let (message, remoteClock) = try? ShardMessage.decode(bytes) else {
                counters.malformedMessages += 1
                return
            }
            hlc.observe(remoteClock)
            try handleShardMessage(message, from: sender)
        case ShardClientRequest.wireTag:
            guard let request = try? ShardClientRequest.decode(bytes) else {
                counters.malformedMessages += 1
                return
            }
            handleClient(request, from: sender)
        default:
            counters.malformedMessages += 1
        }
    }

    private func drainLocalInbox() throws(DiskError) {
        // Each message may queue more (a leader answering itself); the bound keeps a
        // bug from spinning forever inside one step.
        var rounds = 0
        while !localInbox.isEmpty, rounds < 64 {
            rounds += 1
            let messages = localInbox
            localInbox.removeAll()
            for message in messages { try handleShardMessage(message, from: node) }
            try processReady()
        }
    }

    // MARK: replicas

    func addReplica(_ group: ShardID, _ state: RaftRecoveredState) {
        precondition(replicas[group] == nil, "\(group) is already hosted")
        let raft = Raft(id: node, options: configuration.raft, recovered: state, entropy: environment.entropy,
            mutations: mutations)
        let metadata = state.snapshot.metadata
        let replica = Replica(shard: group, raft: raft, machine: machine(for: group, snapshot: state.snapshot),
            configuration: (metadata.index, metadata.configuration))
        // Entries after the snapshot that are committed are applied again by the Ready
        // loop (the state machine is rebuilt from the snapshot and the log).
        replicas[group] = replica
        let position = replicaOrder.firstIndex { $0 > group } ?? replicaOrder.count
        replicaOrder.insert(group, at: position)
    }

    private func machine(for group: ShardID, snapshot: Snapshot) -> Machine {
        guard snapshot.metadata.index != .zero else { return .uninitialized }
        do {
            if group.isMeta { return .meta(try MetaStateMachine.restore(snapshot.data)) }
            return .data(try ShardStateMachine.restore(snapshot.data, options: machineOptions))
        } catch {
            preconditionFailure("\(node) \(group): a snapshot that passed its checksum does not decode: \(error)")
        }
    }

    /// A message for a group this node does not host: host it, empty, unless the group
    /// left this node for good.
    private func stepRaft(_ group: ShardID, _ message: RaftMessage) {
        if replicas[group] == nil {
            guard !store.isRemoved(group), createsReplica(message) else { return }
            let empty = RaftRecoveredState(hardState: HardState(), snapshot: Snapshot(metadata: .empty, data: []), entries: [])
            do {
                try store.createGroups([(group, empty)])
            } catch {
                // The disk refused: no replica; the leader will try again.
                return
            }
            addReplica(group, empty)
            counters.replicasCreatedByMessage += 1
            stepNotes.append(.replicaCreatedByMessage(group))
        }
        replicas[group]!.raft.step(message)
    }

    /// Only messages a live leader or candidate sends create a replica.
    private func createsReplica(_ message: RaftMessage) -> Bool {
        switch message.body {
        case .append, .heartbeat, .snapshotChunk, .vote, .preVote, .timeoutNow: return true
        default: return false
        }
    }

    /// Removes a replica: tombstone first, so messages of its group no longer recreate
    /// it (only a `host` order from the placement driver does, from the tombstone).
    /// Called on the driver's `drop` order, or to replace a stale replica on `host`.
    func destroyReplica(_ group: ShardID) throws(DiskError) {
        guard let replica = replicas[group] else { return }
        try store.removeGroup(group, leaving: MultiRaftLogStore.Tombstone(hardState: replica.raft.hardState,
            lastIndex: replica.raft.log.lastIndex, lastTerm: replica.raft.log.lastTerm))
        replica.destroyed = true
        failProposals(replica, reason: "\(group) left this node")
        replicas[group] = nil
        replicaOrder.removeAll { $0 == group }
        dropVolatileState(of: group)
        counters.replicasDestroyed += 1
        stepNotes.append(.replicaDestroyed(group))
    }

    public var hostedShards: [ShardID] { replicaOrder }

    public func raft(of group: ShardID) -> Raft? { replicas[group]?.raft }

    public func dataMachine(of group: ShardID) -> ShardStateMachine? {
        guard let replica = replicas[group], case let .data(machine) = replica.machine else { return nil }
        return machine
    }

    public func metaMachine() -> MetaStateMachine? {
        guard let replica = replicas[.meta], case let .meta(machine) = replica.machine else { return nil }
        return machine
    }

    /// The state digest and applied index of a hosted group (nil when not initialized).
    public func stateOf(_ group: ShardID) -> (appliedIndex: LogIndex, digest: UInt64)? {
        guard let replica = replicas[group] else { return nil }
        if case .uninitialized = replica.machine { return nil }
        return (replica.machine.appliedIndex, replica.machine.digest)
    }

    /// The configuration of the latest configuration entry this replica applied.
    public func appliedConfiguration(of group: ShardID) -> ClusterConfiguration? {
        replicas[group]?.appliedConfiguration.configuration
    }

    /// What each group did in the last step, in group order.
    public var observations: [(group: ShardID, observations: GroupObservations)] {
        observationsByGroup.keys.sorted().map { ($0, observationsByGroup[$0]!) }
    }

    public var logStoreSyncs: Int { store.persistSyncs }
    public var logBytes: Int { store.logBytes }

    // MARK: the Ready loop

    func processReady() throws(DiskError) {
        var rounds = 0
        while rounds < 64 {
            rounds += 1
            var readies: [(Replica, RaftReady)] = []
            for shard in replicaOrder {
                let replica = replicas[shard]!
                if let ready = replica.raft.nextReady() { readies.append((replica, ready)) }
            }
            if readies.isEmpty { break }
            let writes = readies.filter { $0.1.mustPersist }.map { replica, ready in
                MultiRaftLogStore.GroupWrite(group: replica.shard, hardState: replica.raft.hardState,
                    entries: ready.entries, snapshot: ready.snapshot)
            }
            try store.persist(writes)
            for (replica, ready) in readies where !ready.entries.isEmpty {
                let previous = replica.raft.log.term(at: ready.entries[0].index.previous)
                observationsByGroup[replica.shard, default: GroupObservations()].persistedEntries.append((previous, ready.entries))
            }
            sendRaftMessages(readies.flatMap { replica, ready in ready.messages.map { (replica.shard, $0) } })
            for (replica, ready) in readies where !replica.destroyed {
                if let snapshot = ready.snapshot { installSnapshot(replica, snapshot) }
                for entry in ready.committedEntries where !replica.destroyed {
                    try apply(entry, to: replica)
                }
                if !replica.destroyed { try maybeCompact(replica) }
            }
        }
        try noticeLeadershipChanges()
        try compactGroupsPinningOldSegments()
    }

    /// One network message per peer for all of this round's Raft messages.
    private func sendRaftMessages(_ messages: [(ShardID, RaftMessage)]) {
        guard !messages.isEmpty else { return }
        var byTarget: [NodeID: [(group: ShardID, bytes: [UInt8])]] = [:]
        for (group, message) in messages { byTarget[message.to, default: []].append((group, message.encoded)) }
        for target in byTarget.keys.sorted() {
            for batch in RaftBatch.pack(byTarget[target]!) {
                network.send(to: target, bytes: batch)
                counters.raftBatchesSent += 1
            }
            counters.raftMessagesSent += byTarget[target]!.count
        }
    }

    private func installSnapshot(_ replica: Replica, _ snapshot: Snapshot) {
        replica.machine = machine(for: replica.shard, snapshot: snapshot)
        replica.appliedConfiguration = (snapshot.metadata.index, snapshot.metadata.configuration)
        replica.appliedSinceSnapshot = 0
        observationsByGroup[replica.shard, default: GroupObservations()].installedSnapshot = snapshot.metadata
        for index in replica.proposals.keys.sorted() where index <= snapshot.metadata.index {
            let proposal = replica.proposals.removeValue(forKey: index)!
            answerLost(proposal, reason: "replaced by a snapshot; retry")
        }
        if replica.shard.isMeta, case let .meta(machine) = replica.machine { adoptMap(machine.map) }
    }

    private func apply(_ entry: LogEntry, to replica: Replica) throws(DiskError) {
        observationsByGroup[replica.shard, default: GroupObservations()].applied.append(entry)
        replica.appliedSinceSnapshot += 1
        let proposal = replica.proposals.removeValue(forKey: entry.index)
        let waiter: Waiter
        if let proposal, proposal.term == entry.term {
            waiter = proposal.waiter
        } else {
            if let proposal { answerLost(proposal, reason: "its log entry was replaced; retry") }
            waiter = .none
        }
        switch replica.machine {
        case let .data(machine):
            let effects = machine.apply(entry)
            observationsByGroup[replica.shard, default: GroupObservations()].effects += effects
            for effect in effects { try act(on: effect, in: replica, machine: machine, waiter: waiter) }
        case let .meta(machine):
            let effects = machine.apply(entry)
            adoptMap(machine.map)
            for effect in effects { actOnMeta(effect, waiter: waiter) }
        case .uninitialized:
            preconditionFailure("\(node) \(replica.shard): an entry reached a replica that has no snapshot yet")
        }
        if entry.kind == .configuration, let applied = try? ClusterConfiguration.decode(entry.data) {
            // A change that takes this node out does not remove the replica here: one
            // catching up may apply the removal of an earlier replica of this node that
            // a later entry undoes (it was added back). The placement driver, which
            // knows the group's current members, orders removed replicas dropped.
            replica.appliedConfiguration = (entry.index, applied)
            if case .order = waiter { answerOrder(waiter, refused: nil, shard: replica.shard) }
        }
    }

    private func maybeCompact(_ replica: Replica, force: Bool = false) throws(DiskError) {
        guard force || replica.appliedSinceSnapshot >= configuration.snapshotEveryEntries else { return }
        let data: [UInt8]
        switch replica.machine {
        case let .data(machine): data = machine.snapshot()
        case let .meta(machine): data = machine.snapshot()
        case .uninitialized: return
        }
        guard let snapshot = replica.raft.compact(toSnapshotWith: data, at: replica.machine.appliedIndex) else { return }
        try store.saveSnapshot(replica.shard, snapshot)
        replica.appliedSinceSnapshot = 0
    }

    private func compactGroupsPinningOldSegments() throws(DiskError) {
        for group in store.groupsPinningOldestSegment(segmentsMax: configuration.segmentsMax) {
            if let replica = replicas[group] { try maybeCompact(replica, force: true) }
        }
    }

    private func noticeLeadershipChanges() throws(DiskError) {
        for shard in replicaOrder {
            guard let replica = replicas[shard] else { continue }
            let leads = replica.isLeader
            if leads != replica.wasLeader {
                replica.wasLeader = leads
                if leads { becameLeader(replica) } else { stoppedLeading(replica) }
            }
            // Only news: a follower that stopped hearing from its group keeps an old
            // view, which must not overwrite a fresher hint every round.
            if let leader = replica.raft.leader, leader != replica.leaderSeen { leaderHints[shard] = leader }
            replica.leaderSeen = replica.raft.leader
        }
    }

    private func stoppedLeading(_ replica: Replica) {
        failProposals(replica, reason: "\(replica.shard)'s leader on \(node) stepped down; retry")
        dropVolatileState(of: replica.shard)
    }

    private func failProposals(_ replica: Replica, reason: String) {
        for index in replica.proposals.keys.sorted() {
            answerLost(replica.proposals.removeValue(forKey: index)!, reason: reason)
        }
    }

    /// A proposal whose fate this node cannot know any more: its waiter learns to retry.
    func answerLost(_ proposal: Proposal, reason: String) {
        switch proposal.waiter {
        case let .gateway(target, request):
            sendShard(.reply(request: request, .busy(reason)), to: target)
        case .order:
            answerOrder(proposal.waiter, refused: reason, shard: .meta)
        case .allocation:
            placement.allocationInFlight = false
        case .none:
            break
        }
    }

    /// Proposes a command to a group this node leads; the waiter hears when it applies.
    @discardableResult
    func propose(_ replica: Replica, _ bytes: [UInt8], waiter: Waiter) -> Bool {
        switch replica.raft.propose(bytes) {
        case let .appended(index, term):
            if let displaced = replica.proposals[index] { answerLost(displaced, reason: "its log entry was replaced; retry") }
            replica.proposals[index] = Proposal(term: term, waiter: waiter)
            return true
        case let .notLeader(leader):
            if case let .gateway(target, request) = waiter {
                sendShard(.reply(request: request, .notLeader(replica.shard, leader: leader)), to: target)
            } else if case .order = waiter {
                answerOrder(waiter, refused: "\(node) does not lead \(replica.shard)", shard: replica.shard)
            }
            return false
        case let .refused(reason):
            answerLost(Proposal(term: replica.raft.term, waiter: waiter), reason: reason)
            return false
        }
    }

    // MARK: sending

    func sendShard(_ message: ShardMessage, to target: NodeID) {
        if target == node {
            localInbox.append(message)
        } else {
            network.send(to: target, bytes: message.encoded(clock: hlc.now()))
        }
    }

    /// This node's copy of the shard map (it may lag the meta group's).
    public var shardMap: ShardMap { map }

    /// The leader of `shard` as this node knows it (its own replica's view, else the
    /// last leader that answered for it), or nil when it knows of none.
    public func knownLeader(of shard: ShardID) -> NodeID? {
        if let replica = replicas[shard] { return replica.isLeader ? node : replica.raft.leader }
        return leaderHints[shard]
    }

    /// The node most likely to lead `shard` at the `attempt`th try: itself when it
    /// leads; else, in turn, the last leader heard from (a message from it, or another
    /// node's "not the leader, ask N"), its own replica's view, and the voters the map
    /// lists. Trying them in turn matters: a replica here can be stuck with a stale
    /// view for good (one moved off the group hears from no leader), so its view must
    /// not be the only answer (found by list-append seed 961: every prepare for one
    /// shard went to a deposed leader and every cross-shard transaction timed out).
    func leaderGuess(_ shard: ShardID, attempt: Int = 0) -> NodeID? {
        if let replica = replicas[shard], replica.isLeader { return node }
        var candidates: [NodeID] = []
        if let hint = leaderHints[shard] { candidates.append(hint) }
        if let leader = replicas[shard]?.raft.leader, !candidates.contains(leader) { candidates.append(leader) }
        for voter in map.descriptor(of: shard)?.replicas.voters ?? [] where !candidates.contains(voter) && voter != node {
            candidates.append(voter)
        }
        guard !candidates.isEmpty else { return nil }
        return candidates[attempt % candidates.count]
    }

    func sendToLeader(of shard: ShardID, _ message: ShardMessage, attempt: Int = 0) {
        guard let target = leaderGuess(shard, attempt: attempt) else { return }
        sendShard(message, to: target)
    }

    /// The replica of `shard` here if it leads; otherwise tells the sender who might.
    func leadingReplica(_ shard: ShardID, answering sender: NodeID) -> Replica? {
        if let replica = replicas[shard], replica.isLeader { return replica }
        let hint = replicas[shard]?.raft.leader
        if sender != node { sendShard(.reply(request: 0, .notLeader(shard, leader: hint)), to: sender) }
        return nil
    }

    /// A hint from a message's sender, which led the group when it sent it: fresher
    /// than what a follower here may believe.
    func noteLeader(_ shard: ShardID, _ sender: NodeID) {
        guard sender != node else { return }
        leaderHints[shard] = sender
    }

    func adoptMap(_ newer: ShardMap) {
        guard newer.version > map.version else { return }
        map = newer
        replanCallsWaitingForMap()
    }

    // MARK: incoming shard messages

    func handleShardMessage(_ message: ShardMessage, from sender: NodeID) throws(DiskError) {
        // A coordinator's messages come from its leader, a participant's from its own:
        // remember who leads, so answers go straight there.
        switch message {
        case let .prepare(coordinator, _, _, _), let .finish(coordinator, _, _, _, _):
            noteLeader(coordinator, sender)
        case let .vote(_, participant, _, _), let .finished(_, participant, _), let .resolve(_, participant, _):
            noteLeader(participant, sender)
        case .order:
            noteLeader(.meta, sender)
        default:
            break
        }
        switch message {
        case let .execute(request, shard, transaction, plan):
            receiveExecute(request: request, shard: shard, transaction, plan: plan, from: sender)
        case let .begin(request, shard, transaction, participants):
            receiveBegin(request: request, shard: shard, transaction, participants: participants, from: sender)
        case let .reply(request, reply):
            receiveReply(request: request, reply, from: sender)
        case let .fetch(request, shard, start, end, limit):
            receiveFetch(request: request, shard: shard, start: start, end: end, limit: limit, from: sender)
        case let .prepare(coordinator, participant, transaction, plan):
            receivePrepare(coordinator: coordinator, participant: participant, transaction, plan: plan, from: sender)
        case let .vote(coordinator, participant, transaction, vote):
            receiveVote(coordinator: coordinator, participant: participant, transaction, vote, from: sender)
        case let .finish(coordinator, participant, transaction, commit, timestamp):
            receiveFinish(coordinator: coordinator, participant: participant, transaction, commit: commit,
                timestamp: timestamp, from: sender)
        case let .finished(coordinator, participant, transaction):
            receiveFinished(coordinator: coordinator, participant: participant, transaction, from: sender)
        case let .resolve(coordinator, participant, transaction):
            receiveResolve(coordinator: coordinator, participant: participant, transaction, from: sender)
        case let .reports(reports, hosted):
            receiveReports(reports, hosted: hosted, from: sender)
        case let .order(request, shard, order):
            try receiveOrder(request: request, shard: shard, order, from: sender)
        case let .orderDone(request, shard, refused):
            receiveOrderDone(request: request, shard: shard, refused: refused, from: sender)
        case let .mapRequest(request):
            let leaders = map.allShards.compactMap { descriptor in knownLeader(of: descriptor.id).map { ShardLeader(shard: descriptor.id, leader: $0) } }
            sendShard(.mapReply(request: request, map, leaders: leaders), to: sender)
        case let .mapReply(_, newer, leaders):
            // Leaders of shards with no replica here: where this node knows of none, or
            // from the meta leader (it hears every leader's report).
            let fromMetaLeader = sender != node && sender == knownLeader(of: .meta)
            for known in leaders where replicas[known.shard] == nil && (fromMetaLeader || leaderHints[known.shard] == nil) {
                leaderHints[known.shard] = known.leader
            }
            adoptMap(newer)
            mapRequestedAtTick = nil
        }
    }

    /// Every few ticks: deadlines of calls, coordinations and waits; reports; placement.
    private func protocolTick() {
        gatewayTick()
        coordinatorTick()
        participantTick()
        if ticks >= nextReportTick {
            nextReportTick = ticks + UInt64(configuration.reportTicks)
            sendReports()
        }
        placementTick()
    }
}
