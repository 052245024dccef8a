/// A small map keyed by node id, kept as an array sorted by id: clusters have a
/// handful of members, so a scan beats hashing, and iteration order is the id order,
/// never a hash order.
public struct NodeMap<Value>: Sendable where Value: Sendable {
    private var entries: [(node: NodeID, value: Value)] = []

    public init() {}

    private func position(of node: NodeID) -> Int? {
        for index in entries.indices where entries[index].node == node { return index }
        return nil
    }

    public subscript(node: NodeID) -> Value? {
        get { position(of: node).map { entries[$0].value } }
        set {
            if let index = position(of: node) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                let insertAt = entries.firstIndex { $0.node > node } ?? entries.count
                entries.insert((node, newValue), at: insertAt)
            }
        }
    }

    /// The keys, ascending.
    public var nodes: [NodeID] { entries.map(\.node) }
    public var count: Int { entries.count }

    public mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
    }
}
