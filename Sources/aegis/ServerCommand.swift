import Aegis
import ArgumentParser
import Foundation
import Logging
import Runtime

/// `aegis server`: one node of a cluster, serving REST on --http and peers on --raft.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run one Aegis node: the REST API, the peer transport and the replicated store.",
        discussion: """
            With no flags: node 1, HTTP on 127.0.0.1:9090, peers on 127.0.0.1:9190, data in \
            ./aegis-data, a single-node cluster. Flags override the --config file (YAML: \
            node_id, http, raft, data_dir, cluster, join, peers, request_timeout_ms, \
            body_bytes_max, shards). With --shards N the key-value API spans N data \
            shards, each its own Raft group, and batches across shards commit \
            atomically by two-phase commit; give every founding node the same N. SIGTERM or Ctrl-C stops it cleanly; after kill -9 it recovers \
            from its data directory.

            A 3-node cluster on one machine:
              aegis server --node-id 1 --http 127.0.0.1:9090 --raft 127.0.0.1:9190 --data-dir d1 --peers 2=127.0.0.1:9191,3=127.0.0.1:9192
              aegis server --node-id 2 --http 127.0.0.1:9091 --raft 127.0.0.1:9191 --data-dir d2 --peers 1=127.0.0.1:9190,3=127.0.0.1:9192
              aegis server --node-id 3 --http 127.0.0.1:9092 --raft 127.0.0.1:9192 --data-dir d3 --peers 1=127.0.0.1:9190,2=127.0.0.1:9191
            or simply: aegis cluster local --nodes 3
            """
    )

    @Option(help: "A YAML configuration file; flags given here override it.")
    var config: String?
    @Option(name: .customLong("node-id"), help: "This node's id, a whole number from 1 (default 1).")
    var nodeID: String?
    @Option(help: "HOST:PORT to serve the REST API on (default 127.0.0.1:9090).")
    var http: String?
    @Option(help: "HOST:PORT to serve other nodes on (default 127.0.0.1:9190).")
    var raft: String?
    @Option(help: "The other nodes' peer addresses: ID=HOST:PORT,... (none: a single-node cluster).")
    var peers: String?
    @Option(name: .customLong("data-dir"), help: "Where this node keeps its data (default ./aegis-data).")
    var dataDir: String?
    @Option(help: "A cluster name; nodes of different clusters refuse each other (default aegis).")
    var cluster: String?
    @Flag(help: "Start empty, outside the founding voters, and wait to be added (POST /api/v1/cluster/members).")
    var join = false
    @Option(help: "Run the key-value API on this many data shards (Raft groups), 1 to 64; 0 or absent: one group.")
    var shards: Int?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate: serve HTTPS, and TLS between nodes (with --tls-key and --tls-ca).")
    var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
    var tlsKey: String?
    @Option(name: .customLong("tls-ca"), help: "PEM certificate authority that signed every node's certificate.")
    var tlsCA: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String = "info"

    func run() async throws {
        let configuration: ServerConfiguration
        do {
            configuration = try resolve()
        } catch let error as ConfigurationError {
            throw CLIFailure.badInput(error.description)
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CLIFailure.badInput("--log-level '\(logLevel)' must be one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            try await AegisServer.run(configuration, logger: Logger(label: "aegis"))
        } catch let error as AegisServer.StartError {
            throw CLIFailure(code: 1, message: error.description)
        } catch let error as ConfigurationError {
            throw CLIFailure.badInput(error.description)
        }
    }

    private func resolve() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ConfigurationError.invalid("cannot read the configuration file \(config); check the path")
            }
            configuration = try ServerConfiguration.parse(yaml: String(decoding: data, as: UTF8.self), origin: config)
        }
        if let nodeID { configuration.nodeID = try ServerConfiguration.parseNodeID(nodeID, what: "--node-id") }
        if let http { configuration.http = try HostPort(parsing: http, what: "--http") }
        if let raft { configuration.raft = try HostPort(parsing: raft, what: "--raft") }
        if let peers { configuration.peers = try ServerConfiguration.parsePeers(peers) }
        if let dataDir { configuration.dataDirectory = dataDir }
        if let cluster { configuration.cluster = cluster }
        if join { configuration.join = true }
        if let shards { configuration.shards = shards }
        switch (tlsCert, tlsKey) {
        case let (cert?, key?):
            configuration.tls = ServerConfiguration.TLSFiles(certificate: cert, key: key, certificateAuthority: tlsCA)
        case (nil, nil):
            if let tlsCA, var tls = configuration.tls { tls.certificateAuthority = tlsCA; configuration.tls = tls }
        default:
            throw ConfigurationError.invalid("--tls-cert and --tls-key go together; give both or neither")
        }
        try configuration.validate()
        return configuration
    }
}
