import Aegis
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
#if TLS
import HummingbirdTLS
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One server process: the node's engine on its event loop, the peer transport, and
/// the REST API. `run` returns after SIGTERM or SIGINT, once the HTTP server has
/// drained and the node has stopped; what the node acknowledged is on disk already.
public enum AegisServer {
    public static let version = "0.2.0"

    public enum StartError: Error, CustomStringConvertible {
        case failed(String)
        public var description: String {
            switch self {
            case let .failed(message): return message
            }
        }
    }

    public static func run(_ configuration: ServerConfiguration, logger: Logger,
                           onReady: @escaping @Sendable () -> Void = {}) async throws {
        try configuration.validate()
        let metrics = ServerMetrics.bootstrap()
        let lock = try DataDirectoryLock(directory: configuration.dataDirectory)
        defer { lock.release() }
        let disk: FileDisk
        do {
            disk = try FileDisk(path: configuration.dataDirectory + "/raft", instrumented: true)
        } catch {
            throw StartError.failed("cannot open the data directory \(configuration.dataDirectory)/raft: \(error); check the path and its permissions")
        }

        var peerTLS: PeerTLS?
        var server: HTTPServerBuilder = .http1(configuration: .init(idleTimeout: .seconds(60)))
        #if TLS
        if let files = configuration.tls {
            peerTLS = try TLSSetup.peers(files)
            server = try .tls(.http1(configuration: .init(idleTimeout: .seconds(60))), tlsConfiguration: try TLSSetup.https(files))
        }
        #endif
        // The engine gets a thread of its own: its disk syncs never stall HTTP or the
        // reading of peer connections, which run on the other group.
        let engineGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let engineLoop = engineGroup.next()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(2, System.coreCount))
        var shardDisk: FileDisk?
        if configuration.shards > 0 {
            do {
                shardDisk = try FileDisk(path: configuration.dataDirectory + "/shards", instrumented: true)
            } catch {
                throw StartError.failed("cannot open \(configuration.dataDirectory)/shards: \(error); check the path and its permissions")
            }
        } else if let names = try? FileManager.default.contentsOfDirectory(atPath: configuration.dataDirectory + "/shards"), !names.isEmpty {
            throw StartError.failed("\(configuration.dataDirectory) holds a sharded store; start this node with the --shards it was created with")
        }
        // Nodes that disagree on sharding refuse each other, as nodes of other clusters do.
        let clusterName = configuration.shards > 0 ? "\(configuration.cluster)+shards=\(configuration.shards)" : configuration.cluster
        let hello = PeerHello(cluster: clusterName, node: configuration.nodeID,
            peerAddress: configuration.raft.description, httpAddress: configuration.http.description)
        let transport = PeerTransport(engineLoop: engineLoop, group: group, local: hello, listen: configuration.raft,
            peers: configuration.peers, tls: peerTLS, logger: logger)
        var nodeConfiguration = KVNode.Configuration(initialVoters: configuration.initialVoters)
        nodeConfiguration.snapshotEveryEntries = 50_000
        nodeConfiguration.pendingRequestsMax = 8192
        let host = EngineHost(loop: engineLoop, nodeID: configuration.nodeID, httpAddress: configuration.http.description,
            disk: disk, transport: transport, configuration: nodeConfiguration, metrics: metrics, logger: logger)
        host.onFatal = { reason in
            FileHandle.standardError.write(Data("aegis: \(reason)\n".utf8))
            exit(3)
        }
        if let shardDisk {
            let shardConfiguration = ShardNode.Configuration(
                layout: ShardHost.layout(nodes: configuration.initialVoters, shards: configuration.shards))
            let shardHost = ShardHost(loop: engineLoop, nodeID: configuration.nodeID, disk: shardDisk,
                configuration: shardConfiguration, logger: logger) { [transport] target, bytes in transport.send(to: target, bytes) }
            shardHost.onFatal = { reason in
                FileHandle.standardError.write(Data("aegis: \(reason)\n".utf8))
                exit(3)
            }
            host.shardHost = shardHost
        }

        do {
            try await transport.start()
        } catch {
            try? await group.shutdownGracefully()
            try? await engineGroup.shutdownGracefully()
            throw StartError.failed("cannot listen for peers on \(configuration.raft): \(error); is another process using that port? choose another with --raft")
        }
        do {
            try await host.start().get()
            try await host.shardHost?.start().get()
        } catch {
            try? await transport.stop().get()
            try? await group.shutdownGracefully()
            try? await engineGroup.shutdownGracefully()
            throw StartError.failed("node \(configuration.nodeID.rawValue) cannot recover from \(configuration.dataDirectory): \(error); the data directory may be damaged")
        }

        // Old request records go now and then (see RequestRecordSweeper).
        let sweeper = host.shardHost.map { RequestRecordSweeper(host: $0) }
        sweeper?.start()

        let router = Router()
        RESTRoutes(host: host, configuration: configuration, version: version, metrics: metrics).register(on: router)
        SQLRoutes(host: host, configuration: configuration).register(on: router)
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.http.host, port: configuration.http.port), serverName: "aegis"),
            onServerRunning: { _ in
                logger.info("node \(configuration.nodeID.rawValue) serving \(configuration.tls == nil ? "HTTP" : "HTTPS") on \(configuration.http), peers on \(configuration.raft), data in \(configuration.dataDirectory)")
                onReady()
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        var failure: (any Error)?
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            failure = StartError.failed("the HTTP server on \(configuration.http) stopped: \(error); is another process using that port? choose another with --http")
        }
        sweeper?.stop()
        try? await host.shardHost?.stop().get()
        try? await host.stop().get()
        try? await transport.stop().get()
        try? await group.shutdownGracefully()
        try? await engineGroup.shutdownGracefully()
        logger.info("node \(configuration.nodeID.rawValue) stopped")
        if let failure { throw failure }
    }
}

/// An exclusive lock on a data directory (flock on `LOCK`), so two processes never
/// run one node's data at once.
public struct DataDirectoryLock {
    let descriptor: Int32

    public init(directory: String) throws {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw AegisServer.StartError.failed("cannot create the data directory \(directory): \(String(cString: strerror(errno))); choose another with --data-dir")
        }
        let path = directory + "/LOCK"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw AegisServer.StartError.failed("cannot open \(path): \(String(cString: strerror(errno))); check the directory's permissions")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw AegisServer.StartError.failed("the data directory \(directory) is in use by another aegis process; stop it or choose another with --data-dir")
        }
    }

    public func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
