/// The knobs of one Raft node. Times are in ticks; the node shell decides how long a
/// tick is. Every queue and batch has a bound here.
public struct RaftOptions: Sendable, Equatable {
    /// A follower that hears no leader for this many ticks (plus a random extra of up to
    /// the same again) starts an election. A leader that has not heard from a quorum for
    /// this many ticks steps down (CheckQuorum).
    public var electionTicks = 20
    /// A leader sends heartbeats every this many ticks.
    public var heartbeatTicks = 5
    /// Appends in flight to one follower at once, when streaming.
    public var inflightMessagesMax = 32
    /// Entries and bytes per append message.
    public var entriesPerMessageMax = 64
    public var bytesPerMessageMax = 64 * 1024
    /// Proposals the leader accepts beyond its commit index before refusing more.
    public var uncommittedEntriesMax = 4096
    /// Bytes of snapshot per chunk of InstallSnapshot.
    public var snapshotChunkBytes = 64 * 1024
    /// A learner is promoted only when its log is at most this far behind the leader's.
    public var promotionLagMax = 64
    /// Ask "would you vote for me?" before disturbing the cluster with a new term.
    public var preVote = true
    /// Leaders step down without a quorum, and followers ignore vote requests while
    /// they hear from a leader.
    public var checkQuorum = true

    public init() {}

    public func validate() {
        precondition(electionTicks >= 2 * heartbeatTicks && heartbeatTicks >= 1, "election must outlast heartbeats")
        precondition(inflightMessagesMax >= 1 && entriesPerMessageMax >= 1, "Raft batches must hold something")
        precondition(entriesPerMessageMax <= RaftMessage.entriesPerMessageMax, "batch exceeds the wire bound")
        precondition(snapshotChunkBytes >= 1 && snapshotChunkBytes <= networkMessageSizeMax / 2, "snapshot chunk out of bounds")
    }
}

/// How a proposal went.
public enum ProposalResult: Sendable, Equatable {
    /// In this leader's log at (index, term); it commits or is overwritten later.
    case appended(index: LogIndex, term: Term)
    /// This node is not the leader; `leader` is its best guess.
    case notLeader(leader: NodeID?)
    /// Refused, and definitely not in any log: the reason says why.
    case refused(String)
}

/// A linearizable read may be served once the state machine has applied `index`.
public struct ReadState: Sendable, Equatable {
    public var context: UInt64
    public var index: LogIndex
}

/// What the node shell must do after handing Raft an event, in this order: persist and
/// sync the hard state, entries and snapshot; then send the messages; then apply the
/// snapshot and the committed entries; then serve the reads.
public struct RaftReady: Sendable {
    /// Changed since the last Ready; persist it.
    public var hardState: HardState?
    /// Persist these, replacing any entries from the first one's index on.
    public var entries: [LogEntry] = []
    /// Received from the leader: persist it, drop the log before it, and apply it.
    public var snapshot: Snapshot?
    public var messages: [RaftMessage] = []
    public var committedEntries: [LogEntry] = []
    public var readStates: [ReadState] = []

    public var mustPersist: Bool { hardState != nil || !entries.isEmpty || snapshot != nil }
    public var isEmpty: Bool {
        !mustPersist && messages.isEmpty && committedEntries.isEmpty && readStates.isEmpty
    }
}

/// The durable state a node starts from, as its log storage recovered it.
public struct RaftRecoveredState: Sendable {
    public var hardState: HardState
    public var snapshot: Snapshot
    public var entries: [LogEntry]

    public init(hardState: HardState, snapshot: Snapshot, entries: [LogEntry]) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }

    /// A node that was never started. A founding voter starts with the initial
    /// configuration as a committed entry at index 1 of term 1 — the same entry on every
    /// founder — so that it replicates like any configuration to nodes that lack it. A
    /// node outside the initial configuration starts empty and waits for a leader.
    public static func bootstrap(_ configuration: ClusterConfiguration) -> RaftRecoveredState {
        let empty = Snapshot(metadata: .empty, data: [])
        guard !configuration.voters.isEmpty else {
            return RaftRecoveredState(hardState: HardState(), snapshot: empty, entries: [])
        }
        let founding = LogEntry(index: LogIndex(1), term: Term(1), kind: .configuration, data: configuration.encoded)
        return RaftRecoveredState(hardState: HardState(term: Term(1), commit: LogIndex(1)), snapshot: empty, entries: [founding])
    }
}
