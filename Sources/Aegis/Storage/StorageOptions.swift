/// When a commit counts as durable.
public enum SyncMode: String, Sendable, Equatable, CaseIterable {
    /// A commit is acknowledged only after the write-ahead log is synced (group commit
    /// shares one sync among every commit waiting for it). Survives power loss.
    case everyCommit = "every-commit"
    /// A commit is written to the log (the operating system holds it) but synced only
    /// at `sync()`, a flush or a checkpoint: survives a process crash, not power loss.
    /// SQLite's WAL mode with synchronous=NORMAL makes the same promise.
    case onFlush = "on-flush"
}

/// The LSM engine's knobs.
public struct StorageOptions: Sendable, Equatable {
    public var limits = StorageLimits()
    public var syncMode = SyncMode.everyCommit
    /// The memtable is flushed to a table once its arena holds this many bytes.
    public var memtableBytesMax = 16 << 20
    public var memtableArenaChunkBytes = 1 << 20
    /// Uncompressed bytes per data block.
    public var blockBytes = 4096
    public var blockRestartInterval = 16
    public var bloomBitsPerKey = 10
    public var compression = BlockCompression.lz4
    /// A compaction starts a new output table past this size.
    public var tableBytesTarget = 8 << 20
    /// The block cache's budget (decoded data blocks).
    public var blockCacheBytes = 64 << 20
    /// Level 0 is compacted into level 1 once it holds this many tables.
    public var level0CompactionTrigger = 4
    /// Level 1's size target; each deeper level's is `levelSizeMultiplier` times more.
    public var level1BytesTarget = 64 << 20
    public var levelSizeMultiplier = 10
    public var levelCount = 7
    public var walSegmentBytesMax = 16 << 20
    /// Planted bugs: `storage-skip-wal-sync`, `storage-manifest-rename-before-sync`,
    /// `storage-ignore-block-checksum`.
    public var mutations = MutationSet.none

    public init() {}

    /// Small everything, so a short simulation flushes and compacts many times.
    public static var simulation: StorageOptions {
        var options = StorageOptions()
        options.memtableBytesMax = 16 << 10
        options.memtableArenaChunkBytes = 4 << 10
        options.blockBytes = 512
        options.blockRestartInterval = 4
        options.tableBytesTarget = 8 << 10
        options.blockCacheBytes = 16 << 10
        options.level0CompactionTrigger = 3
        options.level1BytesTarget = 32 << 10
        options.levelSizeMultiplier = 4
        options.levelCount = 4
        options.walSegmentBytesMax = 32 << 10
        return options
    }
}
