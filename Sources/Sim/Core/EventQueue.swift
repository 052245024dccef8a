/// A min-heap of scheduled items ordered by (time, sequence). The sequence number is
/// assigned at insertion, so two items due at the same instant run in the order they
/// were scheduled: the order is total and never depends on hashing or memory layout.
///
/// The heap holds only (time, sequence, slot) keys; the items wait in slots beside it,
/// so sifting moves plain integers and never copies an item.
struct EventQueue<Item> {
    struct Entry {
        let timeNanoseconds: UInt64
        let sequence: UInt64
        let item: Item
    }

    private struct Key {
        let timeNanoseconds: UInt64
        let sequence: UInt64
        let slot: Int

        @inline(__always)
        func precedes(_ other: Key) -> Bool {
            timeNanoseconds != other.timeNanoseconds
                ? timeNanoseconds < other.timeNanoseconds
                : sequence < other.sequence
        }
    }

    private var heap: [Key] = []
    private var slots: [Item?] = []
    private var freeSlots: [Int] = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var nextTime: UInt64? { heap.first?.timeNanoseconds }

    mutating func schedule(at timeNanoseconds: UInt64, _ item: Item) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = item
        } else {
            slot = slots.count
            slots.append(item)
        }
        heap.append(Key(timeNanoseconds: timeNanoseconds, sequence: nextSequence, slot: slot))
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
        guard let item = slots[first.slot] else { preconditionFailure("an event queue slot lost its item") }
        slots[first.slot] = nil
        freeSlots.append(first.slot)
        return Entry(timeNanoseconds: first.timeNanoseconds, sequence: first.sequence, item: item)
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
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < count, heap[left].precedes(heap[smallest]) { smallest = left }
            if right < count, heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
