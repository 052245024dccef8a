/// What a log entry carries.
public enum EntryKind: UInt8, Sendable {
    /// A command for the state machine.
    case command = 0
    /// Appended by a new leader so that it can commit an entry of its own term.
    case noop = 1
    /// A new cluster configuration; it takes effect as soon as it is in a log.
    case configuration = 2
}

/// One entry of the replicated log.
public struct LogEntry: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    public var kind: EntryKind
    public var data: [UInt8]

    public init(index: LogIndex, term: Term, kind: EntryKind, data: [UInt8]) {
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
    }

    /// Bytes this entry costs in a message or a frame, for batching bounds.
    public var encodedSize: Int { 8 + 8 + 1 + 4 + data.count }

    /// A digest of the entry's identity and content, for checkers.
    public var digest: UInt64 {
        var hash = StableHash64(seed: 0x52_41_46_54)
        hash.combine(index.rawValue)
        hash.combine(term.rawValue)
        hash.combine(UInt64(kind.rawValue))
        hash.combine(bytes: data)
        return hash.value
    }
}

/// Who votes (voters) and who only receives the log (learners). Kept sorted, so that
/// iteration order never depends on hashing.
public struct ClusterConfiguration: Sendable, Equatable, CustomStringConvertible {
    public private(set) var voters: [NodeID]
    public private(set) var learners: [NodeID]
    /// Voters and learners, sorted (kept, not recomputed: Raft walks it on every tick).
    public private(set) var members: [NodeID]

    public init(voters: [NodeID], learners: [NodeID] = []) {
        self.voters = Array(Set(voters)).sorted()
        self.learners = Array(Set(learners).subtracting(voters)).sorted()
        members = (self.voters + self.learners).sorted()
    }

    public static let empty = ClusterConfiguration(voters: [])
    public var quorum: Int { voters.count / 2 + 1 }

    public func isVoter(_ node: NodeID) -> Bool { voters.contains(node) }
    public func isMember(_ node: NodeID) -> Bool { voters.contains(node) || learners.contains(node) }

    public var description: String {
        let voterText = voters.map(\.description).joined(separator: ",")
        if learners.isEmpty { return "voters {\(voterText)}" }
        return "voters {\(voterText)} learners {\(learners.map(\.description).joined(separator: ","))}"
    }

    public func encode(into writer: inout ByteWriter) {
        writer.write(UInt16(voters.count))
        for voter in voters { writer.write(voter.rawValue) }
        writer.write(UInt16(learners.count))
        for learner in learners { writer.write(learner.rawValue) }
    }

    public static func decode(from reader: inout ByteReader) throws(DecodeError) -> ClusterConfiguration {
        let voterCount = Int(try reader.readUInt16())
        guard voterCount <= clusterMembersMax else { throw .invalid("\(voterCount) voters exceed \(clusterMembersMax)") }
        var voters: [NodeID] = []
        for _ in 0..<voterCount { voters.append(NodeID(try reader.readUInt32())) }
        let learnerCount = Int(try reader.readUInt16())
        guard learnerCount <= clusterMembersMax else { throw .invalid("\(learnerCount) learners exceed \(clusterMembersMax)") }
        var learners: [NodeID] = []
        for _ in 0..<learnerCount { learners.append(NodeID(try reader.readUInt32())) }
        return ClusterConfiguration(voters: voters, learners: learners)
    }

    public var encoded: [UInt8] {
        var writer = ByteWriter()
        encode(into: &writer)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ClusterConfiguration {
        var reader = ByteReader(bytes)
        let configuration = try decode(from: &reader)
        guard reader.isAtEnd else { throw .invalid("trailing bytes after a configuration") }
        return configuration
    }
}

/// The most members (voters plus learners) a cluster may have.
public let clusterMembersMax = 64

/// A single-server membership change, as a client asks for it.
public enum ConfigurationChange: Sendable, Equatable, CustomStringConvertible {
    /// Start replicating to a node that does not vote yet.
    case addLearner(NodeID)
    /// Make a learner that has caught up a voter.
    case promote(NodeID)
    /// Take a voter or learner out of the cluster.
    case remove(NodeID)

    public var node: NodeID {
        switch self {
        case let .addLearner(node), let .promote(node), let .remove(node): return node
        }
    }

    public var description: String {
        switch self {
        case let .addLearner(node): return "add-learner \(node)"
        case let .promote(node): return "promote \(node)"
        case let .remove(node): return "remove \(node)"
        }
    }
}

/// What must survive a crash besides the log: the current term, the vote in it, how
/// far the log is known committed, and the repair floor.
///
/// The repair floor is set when recovery found this node's own log damaged (both
/// copies of a frame, or the snapshot, unreadable): the log is cut at the damage, so it
/// may lack entries the node acknowledged. `repairFloor` is where the log ended before
/// the damage and `repairFloorTerm` that entry's term, when frames written after the
/// damage still tell it (`Term.unknown` when not). Until a leader has given the node
/// its whole log, the node does not campaign, and grants a vote only to a candidate
/// whose log is at least as up to date as the log it had before the damage — so its
/// vote can never elect a leader that lacks what it acknowledged; with the floor's
/// term unknown it grants none.
public struct HardState: Sendable, Equatable, CustomStringConvertible {
    public var term: Term
    public var vote: NodeID?
    public var commit: LogIndex
    public var repairFloor: LogIndex
    public var repairFloorTerm: Term

    public init(term: Term = .zero, vote: NodeID? = nil, commit: LogIndex = .zero, repairFloor: LogIndex = .zero,
                repairFloorTerm: Term = .zero) {
        self.term = term
        self.vote = vote
        self.commit = commit
        self.repairFloor = repairFloor
        self.repairFloorTerm = repairFloorTerm
    }

    public var isDamaged: Bool { repairFloor != .zero }

    public var description: String {
        let base = "term=\(term.rawValue) vote=\(vote.map(\.description) ?? "-") commit=\(commit.rawValue)"
        guard isDamaged else { return base }
        let floorTerm = repairFloorTerm == .unknown ? "?" : String(repairFloorTerm.rawValue)
        return base + " repair-floor=\(repairFloor.rawValue)/\(floorTerm)"
    }
}

/// The point a snapshot covers: the log up to `index` (of `term`) is replaced by it.
public struct SnapshotMetadata: Sendable, Equatable, CustomStringConvertible {
    public var index: LogIndex
    public var term: Term
    public var configuration: ClusterConfiguration

    public init(index: LogIndex, term: Term, configuration: ClusterConfiguration) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }

    public static let empty = SnapshotMetadata(index: .zero, term: .zero, configuration: .empty)

    public var description: String { "snapshot \(index) \(term) \(configuration)" }

    public func encode(into writer: inout ByteWriter) {
        writer.write(index.rawValue)
        writer.write(term.rawValue)
        configuration.encode(into: &writer)
    }

    public static func decode(from reader: inout ByteReader) throws(DecodeError) -> SnapshotMetadata {
        let index = LogIndex(try reader.readUInt64())
        let term = Term(try reader.readUInt64())
        let configuration = try ClusterConfiguration.decode(from: &reader)
        return SnapshotMetadata(index: index, term: term, configuration: configuration)
    }
}

/// A state machine image at a log index, with the configuration in force there.
public struct Snapshot: Sendable, Equatable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }

    /// CRC32C over the data, carried with every transfer so a damaged image is refused.
    public var checksum: UInt32 { CRC32C.checksum(data) }
}

/// The role a Raft node plays in its current term.
public enum RaftRole: String, Sendable {
    case follower
    case preCandidate = "pre-candidate"
    case candidate
    case leader
}
