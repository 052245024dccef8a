/// The in-memory view of one node's Raft log: a snapshot base (everything up to
/// `snapshot.index` compacted away), the entries after it, how far they are committed,
/// how far they were handed out for applying, and how far they are on disk.
///
/// Invariants (checked with `precondition`, so they hold in release builds too):
/// - entries are contiguous from `snapshot.index + 1`, with non-decreasing terms;
/// - `applied <= committed <= lastIndex`;
/// - a committed entry is never truncated.
public struct RaftLog: Sendable {
    public private(set) var snapshot: SnapshotMetadata
    /// The bytes of the latest snapshot, kept to send to followers that fell behind.
    public private(set) var snapshotData: [UInt8]
    public private(set) var entries: [LogEntry]
    public private(set) var committed: LogIndex
    /// Entries up to here were handed to the application.
    public private(set) var applied: LogIndex
    /// Entries up to here are on disk (handed out in a Ready).
    public private(set) var stableIndex: LogIndex
    /// A snapshot received from the leader, not yet persisted and applied.
    public private(set) var pendingSnapshot: Snapshot?
    /// Indices of configuration entries, ascending, for finding the one in force.
    private var configurationIndices: [LogIndex] = []
    /// Planted bugs may break invariants on purpose; then the checkers, not these
    /// preconditions, must catch them.
    let strict: Bool

    public init(snapshot: Snapshot, entries: [LogEntry], committed: LogIndex, strict: Bool = true) {
        self.snapshot = snapshot.metadata
        self.snapshotData = snapshot.data
        self.entries = []
        self.committed = snapshot.metadata.index
        self.applied = snapshot.metadata.index
        self.stableIndex = snapshot.metadata.index
        self.strict = strict
        for entry in entries {
            precondition(entry.index == lastIndex.next, "recovered entries must follow the snapshot contiguously")
            append(entry)
        }
        stableIndex = lastIndex
        self.committed = max(self.committed, min(committed, lastIndex))
    }

    /// Entries to persist or to apply, or a snapshot to install.
    var hasWork: Bool {
        lastIndex > stableIndex || committed > applied || pendingSnapshot != nil
    }

    public var firstIndex: LogIndex { snapshot.index.next }
    public var lastIndex: LogIndex { LogIndex(snapshot.index.rawValue + UInt64(entries.count)) }
    public var lastTerm: Term { entries.last?.term ?? snapshot.term }

    /// The term of the entry at `index`; nil when compacted below the snapshot or past the end.
    public func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(index.rawValue - snapshot.index.rawValue - 1)].term
    }

    public func entry(at index: LogIndex) -> LogEntry? {
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(index.rawValue - snapshot.index.rawValue - 1)]
    }

    public func matchTerm(_ index: LogIndex, _ term: Term) -> Bool {
        self.term(at: index) == term
    }

    /// Raft's election restriction: is a log ending at (lastIndex, lastTerm) at least as
    /// up to date as this one?
    public func isUpToDate(lastIndex otherIndex: LogIndex, lastTerm otherTerm: Term) -> Bool {
        otherTerm > lastTerm || (otherTerm == lastTerm && otherIndex >= lastIndex)
    }

    /// The configuration in force: the last configuration entry in the log, committed or
    /// not, else the snapshot's.
    public var configuration: (ClusterConfiguration, LogIndex) {
        if let index = configurationIndices.last, let entry = entry(at: index),
           let configuration = try? ClusterConfiguration.decode(entry.data) {
            return (configuration, index)
        }
        return (snapshot.configuration, snapshot.index)
    }

    /// The configuration in force at `index` (at or after the snapshot).
    public func configuration(at index: LogIndex) -> ClusterConfiguration {
        for candidate in configurationIndices.reversed() where candidate <= index {
            if let entry = entry(at: candidate), let configuration = try? ClusterConfiguration.decode(entry.data) {
                return configuration
            }
        }
        return snapshot.configuration
    }

    /// Entries from `start`, at most `countMax` and about `bytesMax` (at least one entry
    /// when there is one). Nil when `start` was compacted away.
    public func entries(from start: LogIndex, countMax: Int, bytesMax: Int) -> [LogEntry]? {
        guard start > snapshot.index else { return nil }
        guard start <= lastIndex else { return [] }
        var result: [LogEntry] = []
        var bytes = 0
        var index = Int(start.rawValue - snapshot.index.rawValue - 1)
        while index < entries.count, result.count < countMax {
            let entry = entries[index]
            if !result.isEmpty, bytes + entry.encodedSize > bytesMax { break }
            result.append(entry)
            bytes += entry.encodedSize
            index += 1
        }
        return result
    }

    // MARK: changes

    /// Appends one entry at the end (a leader's proposal).
    public mutating func append(_ entry: LogEntry) {
        precondition(entry.index == lastIndex.next, "append must extend the log by one")
        precondition(!strict || entry.term >= lastTerm, "terms in a log never decrease")
        entries.append(entry)
        if entry.kind == .configuration { configurationIndices.append(entry.index) }
    }

    /// Drops every entry from `index` on.
    private mutating func truncate(from index: LogIndex) {
        precondition(index > snapshot.index, "cannot truncate into the snapshot")
        precondition(!strict || index > committed, "truncating committed entry \(index) (committed \(committed))")
        entries.removeSubrange(Int(index.rawValue - snapshot.index.rawValue - 1)...)
        while let last = configurationIndices.last, last >= index { configurationIndices.removeLast() }
        stableIndex = min(stableIndex, index.previous)
        if committed > lastIndex { committed = lastIndex }
        if applied > lastIndex { applied = lastIndex }
    }

    /// Follower side of AppendEntries after the consistency check passed: skips entries
    /// already present, truncates at the first conflict, appends the rest. Returns the
    /// index of the last entry the message carried.
    public mutating func appendMatching(after prevIndex: LogIndex, _ newEntries: [LogEntry]) -> LogIndex {
        let lastNew = LogIndex(prevIndex.rawValue + UInt64(newEntries.count))
        for entry in newEntries where entry.index > snapshot.index {
            if let existing = term(at: entry.index) {
                if existing == entry.term { continue }
                truncate(from: entry.index)
            }
            if entry.index == lastIndex.next {
                append(entry)
            }
        }
        return lastNew
    }

    public mutating func commit(to index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) past the last index \(lastIndex)")
        committed = index
    }

    /// Entries committed but not yet handed out, marking them handed out.
    public mutating func takeCommitted() -> [LogEntry] {
        guard committed > applied else { return [] }
        let start = Int(applied.rawValue - snapshot.index.rawValue)
        let end = Int(committed.rawValue - snapshot.index.rawValue)
        applied = committed
        return Array(entries[start..<end])
    }

    /// Entries not yet on disk, marking them handed out for persisting.
    public mutating func takeUnstable() -> [LogEntry] {
        guard lastIndex > stableIndex else { return [] }
        let start = Int(stableIndex.rawValue - snapshot.index.rawValue)
        stableIndex = lastIndex
        return Array(entries[start...])
    }

    public mutating func takePendingSnapshot() -> Snapshot? {
        defer { pendingSnapshot = nil }
        return pendingSnapshot
    }

    /// Replaces the whole log with a snapshot from the leader.
    public mutating func restore(_ snapshot: Snapshot) {
        precondition(!strict || snapshot.metadata.index > committed, "restoring a snapshot behind the commit index")
        self.snapshot = snapshot.metadata
        snapshotData = snapshot.data
        entries.removeAll()
        configurationIndices.removeAll()
        committed = snapshot.metadata.index
        applied = snapshot.metadata.index
        stableIndex = snapshot.metadata.index
        pendingSnapshot = snapshot
    }

    /// Forgets entries up to a snapshot the application took at an applied index.
    public mutating func compact(_ snapshot: Snapshot) {
        let index = snapshot.metadata.index
        guard index > self.snapshot.index else { return }
        precondition(index <= applied, "compacting past the applied index")
        precondition(term(at: index) == snapshot.metadata.term, "snapshot term does not match the log")
        entries.removeSubrange(0..<Int(index.rawValue - self.snapshot.index.rawValue))
        configurationIndices.removeAll { $0 <= index }
        self.snapshot = snapshot.metadata
        snapshotData = snapshot.data
    }
}
