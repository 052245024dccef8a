/// Merges sorted cursors into one. Children are given newest source first; when two
/// hold the same (key, timestamp) the newest wins and the others are skipped.
final class MergingCursor: VersionCursor {
    private let children: [any VersionCursor]
    /// Each child's current key and timestamp, refreshed only when that child moves.
    /// A child's entry is emptied before it moves, so the child's own key buffer is
    /// never shared while it rewrites it (no copy on write per step).
    private var keys: [[UInt8]]
    private var stamps: [Timestamp]
    private var valid: [Bool]
    private var current = -1

    init(_ children: [any VersionCursor]) {
        self.children = children
        keys = Array(repeating: [], count: children.count)
        stamps = Array(repeating: 0, count: children.count)
        valid = Array(repeating: false, count: children.count)
    }

    var isValid: Bool { current >= 0 }
    var key: [UInt8] { keys[current] }
    var timestamp: Timestamp { stamps[current] }
    var value: [UInt8]? { children[current].value }
    var isTombstone: Bool { children[current].isTombstone }

    private func refresh(_ index: Int) {
        let child = children[index]
        valid[index] = child.isValid
        if valid[index] {
            keys[index] = child.key
            stamps[index] = child.timestamp
        }
    }

    /// Moves child `index` one step.
    private func step(_ index: Int) throws(StorageError) {
        keys[index] = []
        try children[index].next()
        refresh(index)
    }

    private func order(_ a: Int, _ b: Int) -> Int {
        let byKey = compareBytes(keys[a], keys[b])
        if byKey != 0 { return byKey }
        let left = stamps[a]
        let right = stamps[b]
        return left == right ? 0 : (left > right ? -1 : 1)
    }

    private func pick() {
        current = -1
        for index in children.indices where valid[index] {
            if current < 0 || order(index, current) < 0 { current = index }
        }
    }

    func seekToFirst() throws(StorageError) {
        for index in children.indices {
            keys[index] = []
            try children[index].seekToFirst()
            refresh(index)
        }
        pick()
    }

    func seek(_ key: [UInt8], timestamp: Timestamp) throws(StorageError) {
        for index in children.indices {
            keys[index] = []
            try children[index].seek(key, timestamp: timestamp)
            refresh(index)
        }
        pick()
    }

    func next() throws(StorageError) {
        guard current >= 0 else { return }
        let winner = current
        // Skip the same version in older sources, then step the winner.
        for index in children.indices where index != winner && valid[index] && order(index, winner) == 0 {
            try step(index)
        }
        try step(winner)
        pick()
    }
}

/// Walks one sorted, non-overlapping level table by table.
final class LevelCursor: VersionCursor {
    private let tables: [TableMeta]
    private let open: (TableMeta) throws(StorageError) -> TableReader
    private var position = 0
    private var cursor: TableCursor?

    init(tables: [TableMeta], open: @escaping (TableMeta) throws(StorageError) -> TableReader) {
        self.tables = tables
        self.open = open
    }

    var isValid: Bool { cursor?.isValid ?? false }
    var key: [UInt8] { cursor!.key }
    var timestamp: Timestamp { cursor!.timestamp }
    var value: [UInt8]? { cursor!.value }
    var isTombstone: Bool { cursor!.isTombstone }

    private func load(_ index: Int) throws(StorageError) {
        position = index
        cursor = index < tables.count ? try open(tables[index]).makeCursor() : nil
    }

    private func skipExhausted() throws(StorageError) {
        while let current = cursor, !current.isValid {
            try load(position + 1)
            try cursor?.seekToFirst()
        }
    }

    func seekToFirst() throws(StorageError) {
        try load(0)
        try cursor?.seekToFirst()
        try skipExhausted()
    }

    func seek(_ key: [UInt8], timestamp: Timestamp) throws(StorageError) {
        // The first table whose largest version is at or after the target.
        var low = 0
        var high = tables.count
        while low < high {
            let middle = (low + high) / 2
            let table = tables[middle]
            let order = compareBytes(table.largestKey, key)
            let before = order < 0 || (order == 0 && table.largestTimestamp > timestamp)
            if before { low = middle + 1 } else { high = middle }
        }
        try load(low)
        try cursor?.seek(key, timestamp: timestamp)
        try skipExhausted()
    }

    func next() throws(StorageError) {
        try cursor?.next()
        try skipExhausted()
    }
}

/// What a reader at `timestamp` sees through a merged cursor: for each key, its newest
/// version at or below the timestamp, unless that is a tombstone.
struct VisibleCursor {
    let source: any VersionCursor
    let timestamp: Timestamp

    /// Positions on the first visible key at or after `key`.
    func seek(_ key: [UInt8]) throws(StorageError) {
        try source.seek(key, timestamp: timestamp)
        try settle()
    }

    func seekToFirst() throws(StorageError) {
        try source.seekToFirst()
        try settle()
    }

    var isValid: Bool { source.isValid }
    var key: [UInt8] { source.key }
    var value: [UInt8] { source.value ?? [] }

    /// Past the current key's remaining versions, to the next visible key.
    func next() throws(StorageError) {
        try skipVersions(of: source.key)
        try settle()
    }

    /// Moves past every version of `key`: a few steps, then a seek past its oldest.
    private func skipVersions(of key: [UInt8]) throws(StorageError) {
        var steps = 0
        while source.isValid && source.key == key {
            steps += 1
            if steps > 8 {
                try source.seek(key, timestamp: 0)
                while source.isValid && source.key == key { try source.next() }
                return
            }
            try source.next()
        }
    }

    /// From wherever the source is, to a version that is visible.
    private func settle() throws(StorageError) {
        while source.isValid {
            if source.timestamp > timestamp {
                // Too new: on to this key's versions at or below the timestamp.
                let key = source.key
                var steps = 0
                while source.isValid && source.key == key && source.timestamp > timestamp && steps < 8 {
                    try source.next()
                    steps += 1
                }
                if source.isValid && source.key == key && source.timestamp > timestamp {
                    try source.seek(key, timestamp: timestamp)
                }
                continue
            }
            if !source.isTombstone { return }
            // A tombstone hides the key: skip its older versions.
            try skipVersions(of: source.key)
        }
    }
}
