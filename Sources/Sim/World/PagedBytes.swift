/// The bytes of a simulated file, in fixed pages rather than one array: a growing file
/// never copies what it already holds, and pages are small enough for the allocator to
/// reuse from run to run instead of mapping fresh memory each time.
struct PagedBytes: Equatable {
    static let pageSize = 1 << 12

    private var pages: [[UInt8]] = []
    private(set) var count = 0

    init() {}

    init(_ bytes: [UInt8]) {
        write(bytes[...], at: 0)
    }

    subscript(position: Int) -> UInt8 {
        get {
            precondition(position >= 0 && position < count, "byte \(position) is outside the file")
            return pages[position / PagedBytes.pageSize][position % PagedBytes.pageSize]
        }
        set {
            precondition(position >= 0 && position < count, "byte \(position) is outside the file")
            pages[position / PagedBytes.pageSize][position % PagedBytes.pageSize] = newValue
        }
    }

    /// A copy of the bytes in `range` (which must lie inside the file).
    func bytes(_ range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside the file")
        var result: [UInt8] = []
        result.reserveCapacity(range.count)
        var position = range.lowerBound
        while position < range.upperBound {
            let page = position / PagedBytes.pageSize
            let start = position % PagedBytes.pageSize
            let length = min(PagedBytes.pageSize - start, range.upperBound - position)
            pages[page].withUnsafeBytes { source in
                result.append(contentsOf: UnsafeRawBufferPointer(rebasing: source[start..<(start + length)]))
            }
            position += length
        }
        return result
    }

    var allBytes: [UInt8] { bytes(0..<count) }

    /// Makes the file `newCount` bytes long: zeros when it grows.
    mutating func resize(to newCount: Int) {
        precondition(newCount >= 0, "a file cannot have a negative size")
        let pagesNeeded = (newCount + PagedBytes.pageSize - 1) / PagedBytes.pageSize
        if newCount < count {
            pages.removeSubrange(pagesNeeded...)
            if pagesNeeded > 0 {
                // Bytes past the end of the last page must read as zero if it grows again.
                let keep = newCount - (pagesNeeded - 1) * PagedBytes.pageSize
                let last = pagesNeeded - 1
                for index in keep..<PagedBytes.pageSize where pages[last][index] != 0 { pages[last][index] = 0 }
            }
        } else {
            while pages.count < pagesNeeded { pages.append([UInt8](repeating: 0, count: PagedBytes.pageSize)) }
        }
        count = newCount
    }

    /// Writes `bytes` at `offset`, growing the file (with zeros in any gap) if needed.
    mutating func write(_ bytes: ArraySlice<UInt8>, at offset: Int) {
        let end = offset + bytes.count
        if end > count { resize(to: end) }
        bytes.withUnsafeBytes { source in
            var position = offset
            var consumed = 0
            while position < end {
                let page = position / PagedBytes.pageSize
                let start = position % PagedBytes.pageSize
                let length = min(PagedBytes.pageSize - start, end - position)
                pages[page].withUnsafeMutableBytes { target in
                    target.baseAddress!.advanced(by: start)
                        .copyMemory(from: source.baseAddress!.advanced(by: consumed), byteCount: length)
                }
                consumed += length
                position += length
            }
        }
    }

    mutating func write(_ bytes: [UInt8], at offset: Int) {
        write(bytes[...], at: offset)
    }

    /// Copies `range` of `other` to the same offsets here.
    mutating func copy(from other: PagedBytes, range: Range<Int>) {
        guard !range.isEmpty else { return }
        var position = range.lowerBound
        if range.upperBound > count { resize(to: range.upperBound) }
        while position < range.upperBound {
            let page = position / PagedBytes.pageSize
            let start = position % PagedBytes.pageSize
            let length = min(PagedBytes.pageSize - start, range.upperBound - position)
            other.pages[page].withUnsafeBytes { source in
                pages[page].withUnsafeMutableBytes { target in
                    target.baseAddress!.advanced(by: start)
                        .copyMemory(from: source.baseAddress!.advanced(by: start), byteCount: length)
                }
            }
            position += length
        }
    }
}
