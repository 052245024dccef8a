/// What a SQL request on the sharded store has read from the shards: key-value pairs in
/// key order, and the spans of the key space they cover completely (every key the
/// shards held there is here). A span not covered has not been read.
public final class ShardReadCache {
    private(set) var keys: [[UInt8]] = []
    private(set) var values: [[UInt8]] = []
    /// Sorted, disjoint and not touching (adjacent spans are merged).
    public private(set) var covered: [KeySpan] = []
    public private(set) var byteCount = 0

    public init() {}

    public var pairCount: Int { keys.count }

    /// Forgets everything read (after a commit found a read stale).
    public func clear() {
        keys.removeAll()
        values.removeAll()
        covered.removeAll()
        byteCount = 0
    }

    /// The parts of `span` not covered, in order.
    public func uncovered(_ span: KeySpan) -> [KeySpan] {
        var missing: [KeySpan] = []
        var cursor = span.start
        for part in covered {
            if let end = span.end, !part.start.lexicographicallyPrecedes(end) { break }
            guard KeySpans.endsAfter(part.end, cursor) else { continue }
            if cursor.lexicographicallyPrecedes(part.start) { missing.append(KeySpan(start: cursor, end: part.start)) }
            guard let partEnd = part.end else { return missing }
            cursor = partEnd
            if let end = span.end, !cursor.lexicographicallyPrecedes(end) { return missing }
        }
        if KeySpans.endsAfter(span.end, cursor) { missing.append(KeySpan(start: cursor, end: span.end)) }
        return missing
    }

    /// Records what the shards hold in `span`: exactly `entries` (in key order, all
    /// inside it), replacing whatever was read there before.
    public func insert(_ entries: [(key: [UInt8], value: [UInt8])], covering span: KeySpan) {
        let low = position(of: span.start)
        let high = span.end.map { position(of: $0) } ?? keys.count
        for index in low..<high { byteCount -= keys[index].count + values[index].count }
        keys.replaceSubrange(low..<high, with: entries.map(\.key))
        values.replaceSubrange(low..<high, with: entries.map(\.value))
        for (key, value) in entries {
            precondition(span.contains(key), "a read's entry \(KVText.show(key)) lies outside \(span)")
            byteCount += key.count + value.count
        }
        covered = KeySpans.union(covered + [span])
    }

    /// The pairs in `span`, in key order.
    public func pairs(in span: KeySpan) -> [(key: [UInt8], value: [UInt8])] {
        let low = position(of: span.start)
        let high = span.end.map { position(of: $0) } ?? keys.count
        guard low < high else { return [] }
        return (low..<high).map { (keys[$0], values[$0]) }
    }

    /// Every pair, in key order.
    public var allPairs: [(key: [UInt8], value: [UInt8])] { (0..<keys.count).map { (keys[$0], values[$0]) } }

    /// The index of the first key at or after `key`.
    private func position(of key: [UInt8]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle].lexicographicallyPrecedes(key) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// Operations on spans of the key space (`KeySpan`, whose nil end is the end of the space).
public enum KeySpans {
    /// Whether a span ending at `end` reaches past `key`.
    static func endsAfter(_ end: [UInt8]?, _ key: [UInt8]) -> Bool {
        end.map { key.lexicographicallyPrecedes($0) } ?? true
    }

    /// The earlier of two ends.
    static func minEnd(_ lhs: [UInt8]?, _ rhs: [UInt8]?) -> [UInt8]? {
        guard let lhs else { return rhs }
        guard let rhs else { return lhs }
        return lhs.lexicographicallyPrecedes(rhs) ? lhs : rhs
    }

    /// The later of two ends.
    static func maxEnd(_ lhs: [UInt8]?, _ rhs: [UInt8]?) -> [UInt8]? {
        guard let lhs, let rhs else { return nil }
        return lhs.lexicographicallyPrecedes(rhs) ? rhs : lhs
    }

    /// The spans merged: sorted, disjoint, with touching ones joined.
    public static func union(_ spans: [KeySpan]) -> [KeySpan] {
        let sorted = spans.sorted { $0.start.lexicographicallyPrecedes($1.start) }
        var merged: [KeySpan] = []
        for span in sorted {
            // Overlapping or touching the last one: they become one.
            if let last = merged.last, KeySpans.endsAfter(last.end, span.start) || last.end == span.start {
                merged[merged.count - 1] = KeySpan(start: last.start, end: maxEnd(last.end, span.end))
            } else {
                merged.append(span)
            }
        }
        return merged
    }

    /// Spans sharing their first `prefixBytes` bytes (a SQL table's rows, a hashed
    /// table's bucket, an index's entries) read as one span from the first to the last:
    /// many point reads of one table (an INSERT's existence checks) become one read,
    /// not one each.
    public static func coalesced(_ spans: [KeySpan], prefixBytes: Int) -> [KeySpan] {
        var merged: [KeySpan] = []
        for span in spans {
            if let last = merged.last, last.start.count >= prefixBytes, span.start.count >= prefixBytes,
               last.start.prefix(prefixBytes) == span.start.prefix(prefixBytes), let end = span.end,
               end.count >= prefixBytes, end.prefix(prefixBytes) == span.start.prefix(prefixBytes) {
                merged[merged.count - 1] = KeySpan(start: last.start, end: maxEnd(last.end, span.end))
            } else {
                merged.append(span)
            }
        }
        return merged
    }

    /// `span` cut where the shard map's shards begin, so each piece lies in one shard.
    public static func cut(_ span: KeySpan, by map: ShardMap) -> [KeySpan] {
        var pieces: [KeySpan] = []
        var start = span.start
        while true {
            let shard = map.shard(for: start)
            guard let shardEnd = shard.range.end, KeySpans.endsAfter(span.end, shardEnd) else {
                pieces.append(KeySpan(start: start, end: span.end))
                return pieces
            }
            pieces.append(KeySpan(start: start, end: shardEnd))
            start = shardEnd
        }
    }

    /// The span of `key` alone.
    public static func single(_ key: [UInt8]) -> KeySpan { KeySpan(start: key, end: key + [0]) }
}
