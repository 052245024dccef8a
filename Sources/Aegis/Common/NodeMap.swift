/// A small map keyed by node id, kept as an array sorted by id: clusters have a
/// handful of members, so a scan beats hashing, and iteration order is the id order,
/// never a hash order.
@frozen
public struct NodeMap<Value>: Sendable where Value: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var node: NodeID
        @usableFromInline var value: Value

        @inlinable init(node: NodeID, value: Value) {
            self.node = node
            self.value = value
        }
    }

    @usableFromInline var entries: [Entry] = []

    @inlinable public init() {}

    @inlinable
    func position(of node: NodeID) -> Int? {
        var index = 0
        while index < entries.count {
            if entries[index].node == node { return index }
            index += 1
        }
        return nil
    }

    @inlinable
    public subscript(node: NodeID) -> Value? {
        get { position(of: node).map { entries[$0].value } }
        set {
            if let index = position(of: node) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                let insertAt = entries.firstIndex { $0.node > node } ?? entries.count
                entries.insert(Entry(node: node, value: newValue), at: insertAt)
            }
        }
    }

    /// Calls `body` with each entry, in node order, without building an array.
    @inlinable
    public func forEach(_ body: (NodeID, Value) -> Void) {
        for entry in entries { body(entry.node, entry.value) }
    }

    /// The keys, ascending.
    @inlinable public var nodes: [NodeID] { entries.map(\.node) }
    @inlinable public var count: Int { entries.count }

    @inlinable
    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
    }
}
