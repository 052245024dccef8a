import Aegis
import Logging
import NIOCore
import NIOPosix
#if TLS
import NIOSSL
#endif

/// Mutual TLS for peer connections (the `TLS` trait): both ends present certificates
/// signed by the cluster's certificate authority.
struct PeerTLS: Sendable {
    #if TLS
    let server: NIOSSLContext
    let client: NIOSSLContext
    #endif
}

/// TCP between nodes. Each node listens on its peer address for the connections other
/// nodes open to it, and opens one connection of its own to every peer it sends to:
/// two one-way streams per pair, so neither side has to decide who dials.
///
/// It promises no more than the simulator's network: a message may be lost (a full send
/// queue, a broken connection), and a reconnect may deliver later messages before the
/// lost ones were retried (they are not). Outbound connections reconnect with
/// exponential backoff. Everything but the listening socket and the inbound decoding
/// runs on the engine's event loop.
final class PeerTransport: @unchecked Sendable {
    struct Limits {
        /// Messages waiting for a connection, per peer; past it the oldest is dropped.
        var queuedMessagesMax = 4096
        /// Bytes written to a connection but not yet taken by the kernel, per peer;
        /// past it new messages are dropped (the peer is slow or gone).
        var unflushedBytesMax = 32 << 20
        var reconnectDelayInitial = TimeAmount.milliseconds(50)
        var reconnectDelayMax = TimeAmount.seconds(2)
        var connectTimeout = TimeAmount.seconds(1)
        /// An inbound connection must name itself within this time.
        var helloTimeout = TimeAmount.seconds(5)
    }

    let engineLoop: any EventLoop
    let group: any EventLoopGroup
    let local: PeerHello
    let listenAddress: HostPort
    let limits: Limits
    let logger: Logger
    let tls: PeerTLS?

    /// Called on the engine loop for every message from a peer.
    var onMessage: (NodeID, [UInt8]) -> Void = { _, _ in }
    /// Called on the engine loop when a peer introduces itself.
    var onHello: (PeerHello) -> Void = { _ in }

    // Engine loop only.
    private var addresses: [NodeID: HostPort] = [:]
    private var links: [NodeID: OutboundLink] = [:]
    private var serverChannel: (any Channel)?
    private var stopped = false
    /// Links written to since the last flush: flushed once per turn of the loop, so a
    /// burst of messages costs one system call per connection, not one per message.
    private var unflushed: [OutboundLink] = []
    private var flushScheduled = false
    private(set) var droppedMessages = 0
    private(set) var rejectedConnections = 0

    init(engineLoop: any EventLoop, group: any EventLoopGroup, local: PeerHello, listen: HostPort,
         peers: [NodeID: HostPort], limits: Limits = Limits(), tls: PeerTLS? = nil, logger: Logger) {
        self.tls = tls
        self.engineLoop = engineLoop
        self.group = group
        self.local = local
        listenAddress = listen
        self.limits = limits
        self.logger = logger
        addresses = peers
    }

    /// Binds the peer port.
    func start() async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    #if TLS
                    if let tls = self.tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.server))
                    }
                    #endif
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PeerFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(InboundPeerHandler(transport: self))
                }
            }
        let channel = try await bootstrap.bind(host: listenAddress.host, port: listenAddress.port).get()
        try await engineLoop.submit { [self] in
            serverChannel = channel
            // Introduce this node to every peer now, not at its first message: followers
            // never write to each other, yet each must learn the others' HTTP addresses.
            for node in addresses.keys.sorted() { link(to: node)?.connectIfIdle() }
        }.get()
    }

    func stop() -> EventLoopFuture<Void> {
        engineLoop.flatSubmit { [self] in
            stopped = true
            for node in links.keys.sorted() { links[node]!.close() }
            links.removeAll()
            return serverChannel?.close() ?? engineLoop.makeSucceededVoidFuture()
        }
    }

    /// The peer addresses known: from configuration, and from hellos of nodes that joined.
    var knownPeers: [NodeID: HostPort] {
        engineLoop.preconditionInEventLoop()
        return addresses
    }

    /// Sends one engine message; engine loop only.
    func send(to node: NodeID, _ bytes: [UInt8]) {
        engineLoop.preconditionInEventLoop()
        guard !stopped else { return }
        guard let link = link(to: node) else {
            droppedMessages += 1
            return
        }
        link.send(bytes)
    }

    private func link(to node: NodeID) -> OutboundLink? {
        if let link = links[node] { return link }
        guard let address = addresses[node] else { return nil }
        let link = OutboundLink(transport: self, node: node, address: address)
        links[node] = link
        return link
    }

    fileprivate func noteDropped() { droppedMessages += 1 }

    fileprivate func needsFlush(_ link: OutboundLink) {
        unflushed.append(link)
        guard !flushScheduled else { return }
        flushScheduled = true
        engineLoop.execute { [self] in
            flushScheduled = false
            let links = unflushed
            unflushed.removeAll(keepingCapacity: true)
            for link in links { link.flush() }
        }
    }

    fileprivate func replaceAddress(of node: NodeID, with address: HostPort) {
        addresses[node] = address
        if let link = links.removeValue(forKey: node) { link.close() }
    }

    // MARK: inbound (called on an inbound channel's loop)

    fileprivate func received(_ hello: PeerHello, on channel: any Channel) throws(PeerFrameError) {
        guard hello.cluster == local.cluster else {
            throw .notAHello("it is from cluster '\(hello.cluster)', this node is in '\(local.cluster)'")
        }
        guard hello.node != local.node else { throw .notAHello("it claims this node's own id \(local.node)") }
        engineLoop.execute { [self] in
            if let address = try? HostPort(parsing: hello.peerAddress, what: "peer address"), addresses[hello.node] != address {
                replaceAddress(of: hello.node, with: address)
            }
            onHello(hello)
        }
    }

    fileprivate func received(_ bytes: [UInt8], from node: NodeID) {
        engineLoop.execute { [self] in
            guard !stopped else { return }
            onMessage(node, bytes)
        }
    }

    fileprivate func rejected(_ error: any Error, remote: SocketAddress?) {
        logger.warning("closed a peer connection from \(remote.map { "\($0)" } ?? "an unknown address"): \(error)")
        engineLoop.execute { self.rejectedConnections += 1 }
    }
}

/// One node's outbound connection, its queue and its reconnects. Engine loop only.
private final class OutboundLink: @unchecked Sendable {
    unowned let transport: PeerTransport
    let node: NodeID
    let address: HostPort
    private var channel: (any Channel)?
    private var connecting = false
    private var closed = false
    private var queue: [[UInt8]] = []
    private var queueHead = 0
    private var unflushedBytes = 0
    private var reconnectDelay: TimeAmount
    private var reconnectTask: Scheduled<Void>?
    private var flushPending = false

    init(transport: PeerTransport, node: NodeID, address: HostPort) {
        self.transport = transport
        self.node = node
        self.address = address
        reconnectDelay = transport.limits.reconnectDelayInitial
    }

    private var loop: any EventLoop { transport.engineLoop }

    func send(_ bytes: [UInt8]) {
        if let channel, channel.isActive {
            write(bytes, to: channel)
            if !flushPending {
                flushPending = true
                transport.needsFlush(self)
            }
            return
        }
        if queue.count - queueHead >= transport.limits.queuedMessagesMax {
            queueHead += 1
            transport.noteDropped()
        }
        queue.append(bytes)
        connectIfIdle()
    }

    func connectIfIdle() {
        if channel == nil, !connecting, reconnectTask == nil { connect() }
    }

    func flush() {
        flushPending = false
        channel?.flush()
    }

    private func write(_ bytes: [UInt8], to channel: any Channel) {
        guard unflushedBytes + bytes.count <= transport.limits.unflushedBytesMax else {
            transport.noteDropped()
            return
        }
        var buffer = channel.allocator.buffer(capacity: PeerFrame.headerBytes + bytes.count)
        PeerFrame.encode(bytes, into: &buffer)
        let size = bytes.count
        unflushedBytes += size
        let promise = loop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [self] _ in unflushedBytes -= size }
        channel.write(buffer, promise: promise)
    }

    private func connect() {
        guard !closed else { return }
        connecting = true
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(transport.limits.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [transport] channel in
                // Nothing is read on an outbound stream; anything that arrives is discarded.
                #if TLS
                if let tls = transport.tls {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls.client, serverHostname: nil))
                    }
                }
                #endif
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        bootstrap.connect(host: address.host, port: address.port).whenComplete { [self] result in
            connecting = false
            switch result {
            case let .success(channel):
                guard !closed else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                reconnectDelay = transport.limits.reconnectDelayInitial
                channel.closeFuture.whenComplete { [self] _ in
                    self.channel = nil
                    scheduleReconnect()
                }
                write(transport.local.encoded, to: channel)
                while queueHead < queue.count {
                    write(queue[queueHead], to: channel)
                    queueHead += 1
                }
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
                channel.flush()
            case .failure:
                scheduleReconnect()
            }
        }
    }

    private func scheduleReconnect() {
        guard !closed, reconnectTask == nil else { return }
        let delay = reconnectDelay
        reconnectDelay = min(reconnectDelay * 2, transport.limits.reconnectDelayMax)
        reconnectTask = loop.scheduleTask(in: delay) { [self] in
            reconnectTask = nil
            // Stay connected even with nothing to say, so the peer keeps knowing this
            // node's addresses; the backoff caps the cost of a peer that is gone.
            if channel == nil, !connecting { connect() }
        }
    }

    func close() {
        closed = true
        reconnectTask?.cancel()
        reconnectTask = nil
        channel?.close(promise: nil)
        channel = nil
        queue.removeAll()
        queueHead = 0
    }
}

/// Reads an inbound connection: a hello first, then engine messages.
private final class InboundPeerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = [UInt8]

    let transport: PeerTransport
    private var peer: NodeID?
    private var helloDeadline: Scheduled<Void>?

    init(transport: PeerTransport) {
        self.transport = transport
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        helloDeadline = context.eventLoop.scheduleTask(in: transport.limits.helloTimeout) { [transport] in
            transport.rejected(PeerFrameError.notAHello("none arrived within the hello timeout"), remote: channel.remoteAddress)
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        helloDeadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let peer {
            transport.received(bytes, from: peer)
            return
        }
        do throws(PeerFrameError) {
            let hello = try PeerHello.decode(bytes)
            try transport.received(hello, on: context.channel)
            helloDeadline?.cancel()
            peer = hello.node
        } catch {
            transport.rejected(error, remote: context.remoteAddress)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        transport.rejected(error, remote: context.remoteAddress)
        context.close(promise: nil)
    }
}

extension PeerTransport {
    /// Records where `node` listens for peers; engine loop only.
    func learn(_ node: NodeID, at address: HostPort) {
        engineLoop.preconditionInEventLoop()
        guard node != local.node, knownPeers[node] != address else { return }
        replaceAddress(of: node, with: address)
    }
}
