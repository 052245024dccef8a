/// Sends bytes to another node. Delivery is not promised: bytes may be lost,
/// duplicated, delayed or reordered, and a protocol must be correct under all of that.
/// What arrives comes to the receiving node as `NodeEvent.message(from:bytes:)`.
public protocol Network: AnyObject {
    var localNode: NodeID { get }
    func send(to target: NodeID, bytes: [UInt8])
}

/// The largest message a node may send; larger ones are a programming error.
public let networkMessageSizeMax = 1 << 20
