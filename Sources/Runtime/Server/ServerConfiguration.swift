import Aegis
import Yams

/// A configuration a user got wrong: one sentence that says what to change.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalid(message): return message
        }
    }
}

/// How one server process runs: who it is, where it listens, who its peers are, where
/// its data lives. Read from a YAML file (`--config`), then overridden by flags.
///
/// ```yaml
/// node_id: 1
/// http: 127.0.0.1:9090
/// raft: 127.0.0.1:9190
/// data_dir: ./aegis-data
/// cluster: aegis          # nodes of different clusters refuse each other's connections
/// join: false             # true: start empty and wait to be added (POST /api/v1/cluster/members)
/// peers:
///   2: 127.0.0.1:9191
///   3: 127.0.0.1:9192
/// tls:                    # optional: HTTPS for clients, mutual TLS between nodes
///   cert: /etc/aegis/node.pem
///   key: /etc/aegis/node.key
///   ca: /etc/aegis/ca.pem
/// ```
public struct ServerConfiguration: Equatable, Sendable {
    public var nodeID = NodeID(1)
    public var http = HostPort(host: "127.0.0.1", port: 9090)
    public var raft = HostPort(host: "127.0.0.1", port: 9190)
    public var dataDirectory = "./aegis-data"
    public var cluster = "aegis"
    /// The other nodes' peer addresses. None: a single-node cluster.
    public var peers: [NodeID: HostPort] = [:]
    /// Start outside the founding voters, empty, until a leader adds this node.
    public var join = false
    /// How long a request may wait for the cluster before it is answered with an error.
    public var requestTimeoutMilliseconds = 5_000
    /// Request bodies above this are refused with 413.
    public var bodyBytesMax = 4 << 20
    /// HTTPS for clients and mutual TLS between nodes, when set (the `TLS` trait).
    public var tls: TLSFiles?
    /// Data shards of the sharded key-value store (`/api/v1/kv` then spans shards, each
    /// its own Raft group, with atomic cross-shard batches); 0 runs the single-group
    /// store. Every founding node must give the same number.
    public var shards = 0
    /// The default split keys are single characters from 0 to z, so at most this many.
    public static let shardsMax = 64

    /// PEM files: this node's certificate (chain) and private key, and the certificate
    /// authority that signed every node's certificate (peers must present one it signed).
    public struct TLSFiles: Equatable, Sendable {
        public var certificate: String
        public var key: String
        public var certificateAuthority: String?

        public init(certificate: String, key: String, certificateAuthority: String?) {
            self.certificate = certificate
            self.key = key
            self.certificateAuthority = certificateAuthority
        }
    }

    public init() {}

    /// The founding voters: this node and its peers (unless it joins later).
    public var initialVoters: [NodeID] {
        join ? peers.keys.sorted() : ([nodeID] + peers.keys).sorted()
    }

    static let fileKeys: Set<String> = ["node_id", "http", "raft", "data_dir", "cluster", "join", "peers", "request_timeout_ms", "body_bytes_max", "tls", "shards"]

    /// Reads a YAML configuration file's text; `origin` names it in errors.
    public static func parse(yaml text: String, origin: String) throws(ConfigurationError) -> ServerConfiguration {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw .invalid("\(origin) is not valid YAML: \(error); fix the file's syntax")
        }
        var configuration = ServerConfiguration()
        guard let loaded else { return configuration }
        guard let map = loaded as? [String: Any] else {
            throw .invalid("\(origin) must be a mapping of settings such as 'node_id: 1'")
        }
        for key in map.keys.sorted() where !fileKeys.contains(key) {
            throw .invalid("\(origin): unknown setting '\(key)'; the settings are \(fileKeys.sorted().joined(separator: ", "))")
        }
        if let value = map["node_id"] { configuration.nodeID = try parseNodeID("\(value)", what: "\(origin): node_id") }
        if let value = map["http"] { configuration.http = try HostPort(parsing: "\(value)", what: "\(origin): http") }
        if let value = map["raft"] { configuration.raft = try HostPort(parsing: "\(value)", what: "\(origin): raft") }
        if let value = map["data_dir"] { configuration.dataDirectory = "\(value)" }
        if let value = map["cluster"] { configuration.cluster = "\(value)" }
        if let value = map["join"] {
            guard let flag = value as? Bool else { throw .invalid("\(origin): join must be true or false") }
            configuration.join = flag
        }
        if let value = map["request_timeout_ms"] {
            guard let number = value as? Int, number >= 100, number <= 600_000 else {
                throw .invalid("\(origin): request_timeout_ms must be a whole number from 100 to 600000")
            }
            configuration.requestTimeoutMilliseconds = number
        }
        if let value = map["body_bytes_max"] {
            guard let number = value as? Int, number >= 1024, number <= 64 << 20 else {
                throw .invalid("\(origin): body_bytes_max must be a whole number from 1024 to 67108864")
            }
            configuration.bodyBytesMax = number
        }
        if let value = map["shards"] {
            guard let number = value as? Int, (0...shardsMax).contains(number) else {
                throw .invalid("\(origin): shards must be a whole number from 0 (unsharded) to \(shardsMax)")
            }
            configuration.shards = number
        }
        if let value = map["tls"] {
            guard let files = value as? [String: Any], let cert = files["cert"] as? String, let key = files["key"] as? String else {
                throw .invalid("\(origin): tls needs cert and key (and ca) paths, like 'tls: {cert: node.pem, key: node.key, ca: ca.pem}'")
            }
            configuration.tls = TLSFiles(certificate: cert, key: key, certificateAuthority: files["ca"] as? String)
        }
        if let value = map["peers"] {
            guard let peers = value as? [AnyHashable: Any] else {
                throw .invalid("\(origin): peers must map node ids to peer addresses, like '2: 127.0.0.1:9191'")
            }
            for (id, address) in peers {
                let node = try parseNodeID("\(id)", what: "\(origin): a peer id")
                configuration.peers[node] = try HostPort(parsing: "\(address)", what: "\(origin): the address of peer \(node.rawValue)")
            }
        }
        return configuration
    }

    /// Parses `--peers 2=127.0.0.1:9191,3=127.0.0.1:9192`.
    public static func parsePeers(_ text: String) throws(ConfigurationError) -> [NodeID: HostPort] {
        var peers: [NodeID: HostPort] = [:]
        for item in text.split(separator: ",") where !item.trimmingWhitespace.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw .invalid("--peers item '\(item)' must be ID=HOST:PORT, like 2=127.0.0.1:9191")
            }
            let node = try parseNodeID(String(parts[0]), what: "--peers id")
            guard peers[node] == nil else { throw .invalid("--peers names node \(node.rawValue) twice") }
            peers[node] = try HostPort(parsing: String(parts[1]), what: "--peers address of node \(node.rawValue)")
        }
        return peers
    }

    public static func parseNodeID(_ text: String, what: String) throws(ConfigurationError) -> NodeID {
        guard let value = UInt32(text.trimmingWhitespace), value >= 1 else {
            throw .invalid("\(what) '\(text)' must be a whole number from 1 to 4294967295")
        }
        return NodeID(value)
    }

    /// Checks what flags and file cannot check alone.
    public func validate() throws(ConfigurationError) {
        if peers[nodeID] != nil {
            throw .invalid("--peers names this node (\(nodeID.rawValue)) itself; list only the other nodes")
        }
        if http == raft {
            throw .invalid("the HTTP and peer addresses are both \(http); give them different ports")
        }
        if join && peers.isEmpty {
            throw .invalid("a joining node needs --peers to find the cluster it joins")
        }
        if dataDirectory.isEmpty {
            throw .invalid("--data-dir must name a directory")
        }
        if !(0...ServerConfiguration.shardsMax).contains(shards) {
            throw .invalid("--shards must be from 0 (unsharded) to \(ServerConfiguration.shardsMax), not \(shards)")
        }
        if shards > 0 && join {
            throw .invalid("a sharded cluster takes its layout from its founding nodes; start every node with --peers, without --join")
        }
        if let tls {
            #if !TLS
            _ = tls
            throw .invalid("this aegis was built without the TLS trait; rebuild with it (swift build --traits TLS) or drop the TLS settings")
            #else
            if tls.certificateAuthority == nil && !peers.isEmpty {
                throw .invalid("TLS between nodes needs the certificate authority that signed their certificates: give --tls-ca (or tls.ca)")
            }
            #endif
        }
    }
}
