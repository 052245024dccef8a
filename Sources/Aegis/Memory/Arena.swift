/// A bump allocator for bytes that live and die together: a memtable's skip-list
/// nodes, keys and values. Allocation is a pointer bump inside a chunk; nothing is
/// freed one by one; everything goes when the arena does. Pointers stay valid for the
/// arena's lifetime (chunks never move).
///
/// `bytesReserved` is what the arena holds from the system (what a byte budget must
/// count); `bytesUsed` what callers asked for, with alignment padding.
public final class Arena {
    /// The size of an ordinary chunk. A request above a quarter of it gets a chunk of
    /// its own, so a large value wastes at most a quarter chunk of the current one.
    public let chunkBytes: Int
    // Touched for every memtable entry, by this class's own methods alone, one call at
    // a time: Swift's dynamic exclusivity checks are left out here.
    private var chunks: [(start: UnsafeMutableRawPointer, bytes: Int)] = []
    @exclusivity(unchecked) private var cursor: UnsafeMutableRawPointer?
    @exclusivity(unchecked) private var remaining = 0
    public private(set) var bytesReserved = 0
    @exclusivity(unchecked) public private(set) var bytesUsed = 0

    public init(chunkBytes: Int = 64 * 1024) {
        precondition(chunkBytes >= 256, "an arena chunk must be at least 256 bytes")
        self.chunkBytes = chunkBytes
    }

    deinit {
        for chunk in chunks { chunk.start.deallocate() }
    }

    /// `byteCount` bytes aligned to `alignment` (a power of two, at most 16).
    public func allocate(byteCount: Int, alignment: Int = 8) -> UnsafeMutableRawPointer {
        precondition(byteCount >= 0, "an arena allocation cannot be negative")
        precondition(alignment > 0 && alignment <= 16 && alignment & (alignment - 1) == 0, "bad arena alignment")
        if let cursor {
            let padding = (alignment - Int(bitPattern: cursor) & (alignment - 1)) & (alignment - 1)
            if padding + byteCount <= remaining {
                let pointer = cursor + padding
                self.cursor = pointer + byteCount
                remaining -= padding + byteCount
                bytesUsed += padding + byteCount
                return pointer
            }
        }
        if byteCount > chunkBytes / 4 {
            // A chunk of its own; the current chunk stays open for small requests.
            let pointer = newChunk(bytes: byteCount)
            bytesUsed += byteCount
            return pointer
        }
        let start = newChunk(bytes: chunkBytes)
        cursor = start + byteCount
        remaining = chunkBytes - byteCount
        bytesUsed += byteCount
        return start
    }

    /// Copies `bytes` into the arena.
    public func copy(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        let pointer = allocate(byteCount: max(bytes.count, 1), alignment: 1)
        if let base = bytes.baseAddress, bytes.count > 0 {
            pointer.copyMemory(from: base, byteCount: bytes.count)
        }
        return pointer
    }

    private func newChunk(bytes: Int) -> UnsafeMutableRawPointer {
        let start = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        chunks.append((start, bytes))
        bytesReserved += bytes
        return start
    }
}
