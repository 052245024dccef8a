/// The doors of one node, handed to it at start. A node keeps this and touches the
/// world through nothing else.
public struct NodeEnvironment {
    public let node: NodeID
    public let clock: any Clock
    public let timers: any Timers
    public let disk: any Disk
    public let network: any Network
    public let entropy: any Entropy

    public init(
        node: NodeID, clock: any Clock, timers: any Timers, disk: any Disk,
        network: any Network, entropy: any Entropy
    ) {
        self.node = node
        self.clock = clock
        self.timers = timers
        self.disk = disk
        self.network = network
        self.entropy = entropy
    }
}

/// What drives a node. A node never runs by itself; it is handed events one at a time.
public enum NodeEvent: Sendable, Equatable {
    case timer(TimerID)
    case message(from: NodeID, bytes: [UInt8])
}

/// The shape of every node: created with its environment (a fresh incarnation after
/// each crash), started once, then driven by events. A node that finds its disk
/// unusable throws from `start`; the host reports it rather than crashing.
public protocol NodeProcess: AnyObject {
    func start() throws(DiskError)
    func handle(_ event: NodeEvent) throws(DiskError)
}
