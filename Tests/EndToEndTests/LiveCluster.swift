import AegisClient
import AegisTestSupport
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Real `aegis server` processes on loopback, each with its own ports, data directory
/// and log file, for end-to-end tests. Every wait has a deadline; `stopAll` kills what
/// is left, so a failing test never leaves servers behind.
final class LiveCluster: @unchecked Sendable {
    struct Node {
        var id: Int
        var httpPort: Int
        var raftPort: Int
        var dataDirectory: URL
        var logFile: URL
        var joins = false
        var process: Process?
        var scheme = "http"
        var endpoint: String { "\(scheme)://127.0.0.1:\(httpPort)" }
    }

    /// A certificate authority and one node certificate it signed (for 127.0.0.1, for
    /// server and client use), made with openssl.
    struct Certificates {
        var authority: String
        var certificate: String
        var key: String

        static func make(in directory: URL) throws -> Certificates {
            let path = directory.path
            try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
                .write(toFile: path + "/ext.cnf", atomically: true, encoding: .utf8)
            let commands = [
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path + "/ca.key", "-out", path + "/ca.pem",
                 "-days", "2", "-subj", "/CN=aegis-test-ca"],
                ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path + "/node.key", "-out", path + "/node.csr",
                 "-subj", "/CN=127.0.0.1"],
                ["x509", "-req", "-in", path + "/node.csr", "-CA", path + "/ca.pem", "-CAkey", path + "/ca.key",
                 "-CAcreateserial", "-out", path + "/node.pem", "-days", "2", "-extfile", path + "/ext.cnf"],
            ]
            for arguments in commands {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
                process.arguments = arguments
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                process.waitUntilExit()
                guard process.terminationStatus == 0 else { throw LiveClusterError.timedOut("openssl \(arguments[0]) to succeed") }
            }
            return Certificates(authority: path + "/ca.pem", certificate: path + "/node.pem", key: path + "/node.key")
        }
    }

    static var executable: URL { AegisProcess.executable }

    let root: URL
    private(set) var nodes: [Node] = []
    let http: HTTPClient
    let certificates: Certificates?
    /// Given to every server after the standard arguments (`--shards 8`, say).
    var serverArguments: [String] = []

    /// `size` founding nodes, then `joiners` more started with --join (outside the
    /// cluster until added).
    init(size: Int, joiners: Int = 0, tls: Bool = false) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        certificates = tls ? try Certificates.make(in: root) : nil
        let ports = try LiveCluster.freePorts(2 * (size + joiners))
        for index in 0..<(size + joiners) {
            nodes.append(Node(id: index + 1, httpPort: ports[2 * index], raftPort: ports[2 * index + 1],
                dataDirectory: root.appendingPathComponent("node-\(index + 1)"),
                logFile: root.appendingPathComponent("node-\(index + 1).log"), joins: index >= size, scheme: tls ? "https" : "http"))
        }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(1)
        if let certificates {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.trustRoots = .file(certificates.authority)
            configuration.tlsConfiguration = tlsConfiguration
        }
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// The founding nodes' endpoints.
    var endpoints: [String] { nodes.filter { !$0.joins }.map(\.endpoint) }

    func arguments(for node: Node) -> [String] {
        var arguments = ["server", "--node-id", "\(node.id)", "--http", "127.0.0.1:\(node.httpPort)",
                         "--raft", "127.0.0.1:\(node.raftPort)", "--data-dir", node.dataDirectory.path, "--log-level", "warning"]
        // Founding nodes know each other; a joiner knows them all (they learn its address
        // from its hello).
        let peers = nodes.filter { $0.id != node.id && (node.joins || !$0.joins) }.map { "\($0.id)=127.0.0.1:\($0.raftPort)" }
        if !peers.isEmpty { arguments += ["--peers", peers.joined(separator: ",")] }
        if node.joins { arguments.append("--join") }
        arguments += serverArguments
        if let certificates {
            arguments += ["--tls-cert", certificates.certificate, "--tls-key", certificates.key, "--tls-ca", certificates.authority]
        }
        return arguments
    }

    func start(_ id: Int) throws {
        let index = id - 1
        let process = Process()
        process.executableURL = LiveCluster.executable
        process.arguments = arguments(for: nodes[index])
        if !FileManager.default.fileExists(atPath: nodes[index].logFile.path) {
            FileManager.default.createFile(atPath: nodes[index].logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: nodes[index].logFile)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        nodes[index].process = process
    }

    func startAll() throws {
        for node in nodes { try start(node.id) }
    }

    /// kill -9: no shutdown, no final sync.
    func kill9(_ id: Int) {
        guard let process = nodes[id - 1].process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        nodes[id - 1].process = nil
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    func terminate(_ id: Int) -> Int32 {
        guard let process = nodes[id - 1].process else { return -1 }
        process.terminate()
        process.waitUntilExit()
        nodes[id - 1].process = nil
        return process.terminationStatus
    }

    func isRunning(_ id: Int) -> Bool { nodes[id - 1].process?.isRunning ?? false }

    func stopAll() {
        for node in nodes where node.process != nil { kill9(node.id) }
        try? http.syncShutdown()
    }

    func logs() -> String {
        nodes.map { node in "--- node \(node.id) ---\n" + ((try? String(contentsOf: node.logFile, encoding: .utf8)) ?? "") }.joined(separator: "\n")
    }

    // MARK: HTTP

    struct Answer {
        var status: Int
        var json: [String: Any]
        var text: String
    }

    func request(_ method: String, _ url: String, body: Data? = nil, headers: [String: String] = [:],
                 timeoutSeconds: Int64 = 5) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await http.execute(request, timeout: .seconds(timeoutSeconds))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        let text = String(buffer: buffer)
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: buffer))) as? [String: Any] ?? [:]
        return Answer(status: Int(response.status.code), json: json, text: text)
    }

    func info(_ id: Int) async -> [String: Any]? {
        try? await request("GET", nodes[id - 1].endpoint + "/api/v1/cluster/info", timeoutSeconds: 2).json
    }

    /// Polls until `condition` holds or the deadline passes.
    static func wait(seconds: Double, _ what: String, _ condition: () async -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LiveClusterError.timedOut(what)
    }

    /// The leader every running node agrees on, waiting for one.
    func agreedLeader(among ids: [Int], seconds: Double = 20) async throws -> Int {
        var leader = 0
        try await LiveCluster.wait(seconds: seconds, "a leader that nodes \(ids) agree on") {
            var seen = Set<Int>()
            for id in ids {
                guard let info = await info(id), let value = info["leader_id"] as? Int else { return false }
                seen.insert(value)
            }
            guard seen.count == 1, let only = seen.first, ids.contains(only) else { return false }
            leader = only
            return true
        }
        return leader
    }

    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        var ports: [Int] = []
        defer { for socket in sockets { close(socket) } }
        for _ in 0..<count {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var size = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) }
            }
            guard bound == 0 else { throw LiveClusterError.timedOut("binding a free port") }
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &size) }
            }
            sockets.append(descriptor)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// Writes raw bytes to a TCP port and reports whether the server closed the
    /// connection within 5 seconds (whatever it wrote back first, such as a TLS alert).
    static func sendGarbage(_ bytes: [UInt8], toPort port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let received = recv(descriptor, &buffer, buffer.count, 0)
            if received == 0 || (received < 0 && errno == ECONNRESET) { return true }
            if received < 0 { return false }
        }
    }
}

enum LiveClusterError: Error, CustomStringConvertible {
    case timedOut(String)
    var description: String {
        switch self {
        case let .timedOut(what): return "timed out waiting for \(what)"
        }
    }
}
