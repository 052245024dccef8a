/// Merges sorted cursors into one. Children are given newest source first; when two
/// hold the same (key, timestamp) the newest wins and the others are skipped.
///
/// Besides the current child (the smallest) the cursor remembers the runner-up, the
/// smallest of the others. Only the current child moves on `next()`, so while its new
/// position still sorts before the runner-up's nothing else needs looking at: a scan
/// that reads one source for a while costs one comparison per step, however many
/// sources there are.
final class MergingCursor: VersionCursor {
    private let children: [any VersionCursor]
    // Per-entry state that only this cursor's own methods touch, one call at a time:
    // Swift's dynamic exclusivity checks are left out here (they cost a quarter of a scan).
    /// Each child's current key and timestamp, refreshed only when that child moves.
    /// A child's entry is emptied before it moves, so the child's own key buffer is
    /// never shared while it rewrites it (no copy on write per step).
    @exclusivity(unchecked) private var keys: [[UInt8]]
    @exclusivity(unchecked) private var stamps: [Timestamp]
    @exclusivity(unchecked) private var valid: [Bool]
    @exclusivity(unchecked) private var current = -1
    /// The smallest valid child other than `current`, or -1.
    @exclusivity(unchecked) private var runnerUp = -1

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
        keys[a].withUnsafeBytes { left in keys[b].withUnsafeBytes { compareVersions(left, stamps[a], $0, stamps[b]) } }
    }

    /// Whether child `a` comes first: the smaller version, or the newer source of two
    /// equal ones.
    private func precedes(_ a: Int, _ b: Int) -> Bool {
        let byVersion = order(a, b)
        return byVersion < 0 || (byVersion == 0 && a < b)
    }

    /// Finds the current child and the runner-up among all valid children.
    private func pick() {
        current = -1
        runnerUp = -1
        for index in children.indices where valid[index] {
            if current < 0 || precedes(index, current) {
                runnerUp = current
                current = index
            } else if runnerUp < 0 || precedes(index, runnerUp) {
                runnerUp = index
            }
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

    /// Reads what `run`'s snapshot sees from here until the run finishes or every
    /// child is exhausted. Each child walks its own entries in a tight loop for as long
    /// as it stays ahead of the runner-up, so the merge costs a little per switch of
    /// source, not per entry.
    func readVisible(_ run: inout VisibleRun) throws(StorageError) {
        while current >= 0 && !run.finished {
            let index = current
            if runnerUp >= 0 {
                run.setBound(keys[runnerUp], stamps[runnerUp], boundIsNewer: runnerUp < index)
            } else {
                run.clearBound()
            }
            keys[index] = []
            try children[index].scanVisible(&run)
            refresh(index)
            pick()
        }
    }

    func next() throws(StorageError) {
        guard current >= 0 else { return }
        let winner = current
        if runnerUp >= 0 && order(runnerUp, winner) == 0 {
            // Older sources hold this same version: skip it in each, then look again.
            for index in children.indices where index != winner && valid[index] && order(index, winner) == 0 {
                try step(index)
            }
            try step(winner)
            pick()
            return
        }
        try step(winner)
        if !valid[winner] {
            pick()
        } else if runnerUp >= 0 && !precedes(winner, runnerUp) {
            // The runner-up leads now. With two children the old winner is its only
            // rival; with more, a third child may be.
            if children.count == 2 {
                (current, runnerUp) = (runnerUp, winner)
            } else {
                pick()
            }
        }
    }
}

/// Walks one sorted, non-overlapping level table by table.
final class LevelCursor: VersionCursor {
    private let tables: [TableMeta]
    private let open: (TableMeta) throws(StorageError) -> TableReader
    // Per-entry state that only this cursor's own methods touch, one call at a time:
    // Swift's dynamic exclusivity checks are left out here (they cost a quarter of a scan).
    @exclusivity(unchecked) private var position = 0
    @exclusivity(unchecked) private var cursor: TableCursor?

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

    /// Table after table, each walked by its own cursor.
    func scanVisible(_ run: inout VisibleRun) throws(StorageError) {
        while let current = cursor {
            try current.scanVisible(&run)
            if current.isValid { return }
            try skipExhausted()
        }
    }
}
