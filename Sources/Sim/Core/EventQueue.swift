/// A min-heap of scheduled items ordered by (time, sequence). The sequence number is
/// assigned at insertion, so two items due at the same instant run in the order they
/// were scheduled: the order is total and never depends on hashing or memory layout.
struct EventQueue<Item> {
    struct Entry {
        let timeNanoseconds: UInt64
        let sequence: UInt64
        let item: Item

        func precedes(_ other: Entry) -> Bool {
            timeNanoseconds != other.timeNanoseconds
                ? timeNanoseconds < other.timeNanoseconds
                : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var nextTime: UInt64? { heap.first?.timeNanoseconds }

    mutating func schedule(at timeNanoseconds: UInt64, _ item: Item) {
        heap.append(Entry(timeNanoseconds: timeNanoseconds, sequence: nextSequence, item: item))
        nextSequence += 1
        siftUp(from: heap.count - 1)
    }

    mutating func popFirst() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        if !heap.isEmpty {
            siftDown(from: 0)
        }
        return first
    }

    private mutating func siftUp(from start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count, heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
