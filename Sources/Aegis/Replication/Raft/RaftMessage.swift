/// A message between Raft peers. Every message carries the sender's term; the body says
/// what it is. Messages cross the network as bytes (`RaftMessage+Codec.swift`).
public struct RaftMessage: Sendable, Equatable, CustomStringConvertible {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var body: Body

    public init(from: NodeID, to: NodeID, term: Term, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    public enum Body: Sendable, Equatable {
        /// "Would you vote for me in `term`?" — asked without disturbing anyone's term.
        case preVote(lastIndex: LogIndex, lastTerm: Term)
        case preVoteResponse(granted: Bool)
        /// A real vote request; `transfer` is set when the leader handed over leadership,
        /// so followers must not refuse it for having heard from that leader recently.
        case vote(lastIndex: LogIndex, lastTerm: Term, transfer: Bool)
        case voteResponse(granted: Bool)
        /// Entries following (prevIndex, prevTerm), the leader's commit index, and its
        /// last index (a follower repairing a damaged log waits to hold all of it).
        case append(prevIndex: LogIndex, prevTerm: Term, entries: [LogEntry], commit: LogIndex, leaderLastIndex: LogIndex)
        /// On success `index` is the follower's last matching index; on rejection it is
        /// the rejected prevIndex and `hint` is where the leader should probe next.
        /// `logLost` is set by a follower whose own log was damaged and cut: it may now
        /// hold less than it once acknowledged, and the leader must believe the hint.
        case appendResponse(success: Bool, index: LogIndex, hint: LogIndex, logLost: Bool)
        /// Keeps followers from campaigning; `context` confirms a ReadIndex round.
        case heartbeat(commit: LogIndex, context: UInt64)
        case heartbeatResponse(context: UInt64)
        /// One chunk of a snapshot: `offset` into `totalBytes` bytes whose CRC32C is `checksum`.
        case snapshotChunk(metadata: SnapshotMetadata, totalBytes: UInt32, checksum: UInt32, offset: UInt32, chunk: [UInt8])
        /// The follower has the snapshot's bytes up to `nextOffset`.
        case snapshotChunkResponse(index: LogIndex, nextOffset: UInt32)
        /// "Campaign now": the last step of a leadership transfer.
        case timeoutNow
    }

    public var kind: String {
        switch body {
        case .preVote: return "pre-vote"
        case .preVoteResponse: return "pre-vote-response"
        case .vote: return "vote"
        case .voteResponse: return "vote-response"
        case .append: return "append"
        case .appendResponse: return "append-response"
        case .heartbeat: return "heartbeat"
        case .heartbeatResponse: return "heartbeat-response"
        case .snapshotChunk: return "snapshot-chunk"
        case .snapshotChunkResponse: return "snapshot-chunk-response"
        case .timeoutNow: return "timeout-now"
        }
    }

    public var description: String {
        let head = "\(from)->\(to) \(term) \(kind)"
        switch body {
        case let .preVote(lastIndex, lastTerm):
            return "\(head) last=\(lastIndex)/\(lastTerm)"
        case let .preVoteResponse(granted), let .voteResponse(granted):
            return "\(head) \(granted ? "granted" : "rejected")"
        case let .vote(lastIndex, lastTerm, transfer):
            return "\(head) last=\(lastIndex)/\(lastTerm)\(transfer ? " transfer" : "")"
        case let .append(prevIndex, prevTerm, entries, commit, _):
            let range = entries.isEmpty ? "none" : "\(entries.first!.index)...\(entries.last!.index)"
            return "\(head) prev=\(prevIndex)/\(prevTerm) entries=\(range) commit=\(commit)"
        case let .appendResponse(success, index, hint, logLost):
            return success ? "\(head) ok match=\(index)" : "\(head) reject prev=\(index) hint=\(hint)\(logLost ? " log-lost" : "")"
        case let .heartbeat(commit, context):
            return "\(head) commit=\(commit) context=\(context)"
        case let .heartbeatResponse(context):
            return "\(head) context=\(context)"
        case let .snapshotChunk(metadata, totalBytes, _, offset, chunk):
            return "\(head) \(metadata.index)/\(metadata.term) bytes \(offset)..<\(Int(offset) + chunk.count) of \(totalBytes)"
        case let .snapshotChunkResponse(index, nextOffset):
            return "\(head) \(index) next=\(nextOffset)"
        case .timeoutNow:
            return head
        }
    }
}
