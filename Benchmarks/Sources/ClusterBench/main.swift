// Aegis against etcd: a 3-node cluster of each on loopback, driven by the same load
// generator in the same run. For each number of concurrent clients (16, 64, 256 by
// default) every client writes a fresh value (100 bytes by default) to a random key
// among 100,000, one write at a time, for a fixed time after a warm-up; the tool
// reports writes per second and the median and 99th-percentile latency, and the ratios.
//
// Both clusters make the same promise: a write is acknowledged once a majority has it
// in its log and synced to disk. Aegis takes POST /api/v1/kv/keys; etcd (Debian's
// etcd-server) takes POST /v3/kv/put through its JSON gateway. Requests go to each
// cluster's leader, over keep-alive connections, one per client.
//
// Usage: ClusterBench [--clients 16,64,256] [--seconds 5] [--warmup 1] [--value-bytes 100]
//                     [--aegis PATH] [--etcd PATH] [--system both|aegis|etcd] [--dir PATH]
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(2)
}

let clientCounts = (option("--clients") ?? "16,64,256").split(separator: ",").compactMap { Int($0) }
let seconds = Double(option("--seconds") ?? "5") ?? 5
let warmup = Double(option("--warmup") ?? "1") ?? 1
let valueBytes = Int(option("--value-bytes") ?? "100") ?? 100
let system = option("--system") ?? "both"
let keySpace = 100_000
guard !clientCounts.isEmpty, clientCounts.allSatisfy({ (1...4096).contains($0) }) else { fail("--clients takes numbers from 1 to 4096, like 16,64,256") }
guard ["both", "aegis", "etcd"].contains(system) else { fail("--system takes both, aegis or etcd") }

func findAegis() -> String {
    if let path = option("--aegis") { return path }
    for candidate in [".build/release/aegis", "../.build/release/aegis"] where FileManager.default.isExecutableFile(atPath: candidate) {
        return URL(fileURLWithPath: candidate).standardizedFileURL.path
    }
    fail("no release build of aegis found; run `swift build -c release` first or pass --aegis PATH")
}
let etcdPath = option("--etcd") ?? "/usr/bin/etcd"
let root = option("--dir") ?? FileManager.default.temporaryDirectory.appendingPathComponent("aegis-cluster-bench-\(getpid())").path
try? FileManager.default.removeItem(atPath: root)
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

// MARK: processes

func freePorts(_ count: Int) -> [Int] {
    var sockets: [Int32] = []
    var ports: [Int] = []
    for _ in 0..<count {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &size) } }
        sockets.append(descriptor)
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    for socket in sockets { close(socket) }
    return ports
}

func launch(_ path: String, _ arguments: [String], log: String) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    FileManager.default.createFile(atPath: log, contents: nil)
    let handle = FileHandle(forWritingAtPath: log)!
    process.standardOutput = handle
    process.standardError = handle
    do { try process.run() } catch { fail("cannot start \(path): \(error)") }
    return process
}

func stop(_ processes: [Process]) {
    for process in processes where process.isRunning { process.terminate() }
    for process in processes { process.waitUntilExit() }
}

var httpConfiguration = HTTPClient.Configuration()
httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = (clientCounts.max() ?? 16) + 8
httpConfiguration.timeout.connect = .seconds(2)
let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration)

@Sendable func request(_ method: HTTPMethod, _ url: String, body: Data? = nil) async throws -> (Int, Data) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: body))
    }
    let response = try await http.execute(request, timeout: .seconds(10))
    let buffer = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), Data(buffer: buffer))
}

@Sendable func json(_ data: Data) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}

func waitFor(_ what: String, seconds: Double = 30, _ condition: () async -> String?) async -> String {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let answer = await condition() { return answer }
        try? await Task.sleep(for: .milliseconds(100))
    }
    fail("timed out waiting for \(what); see the logs in \(root)")
}

// MARK: the clusters

struct Cluster {
    var name: String
    var processes: [Process]
    var leaderURL: String
    var write: @Sendable (String, String) async throws -> Bool
}

func startAegis() async -> Cluster {
    let binary = findAegis()
    let ports = freePorts(6)
    var processes: [Process] = []
    for node in 1...3 {
        let peers = (1...3).filter { $0 != node }.map { "\($0)=127.0.0.1:\(ports[3 + $0 - 1])" }.joined(separator: ",")
        processes.append(launch(binary, ["server", "--node-id", "\(node)", "--http", "127.0.0.1:\(ports[node - 1])",
            "--raft", "127.0.0.1:\(ports[3 + node - 1])", "--data-dir", "\(root)/aegis-\(node)", "--peers", peers, "--log-level", "warning"],
            log: "\(root)/aegis-\(node).log"))
    }
    let leader = await waitFor("an Aegis leader") {
        for node in 1...3 {
            guard let (status, body) = try? await request(.GET, "http://127.0.0.1:\(ports[node - 1])/api/v1/cluster/info"), status == 200,
                  let address = json(body)["leader_address"] as? String else { continue }
            return "http://" + address
        }
        return nil
    }
    let url = leader + "/api/v1/kv/keys"
    return Cluster(name: "Aegis", processes: processes, leaderURL: leader) { key, value in
        let body = try JSONSerialization.data(withJSONObject: ["key": key, "value": value])
        return try await request(.POST, url, body: body).0 == 200
    }
}

func startEtcd() async -> Cluster {
    guard FileManager.default.isExecutableFile(atPath: etcdPath) else {
        fail("etcd is not installed at \(etcdPath); install Debian's etcd-server (apt-get install etcd-server) or pass --etcd PATH")
    }
    let ports = freePorts(6)
    let initial = (1...3).map { "e\($0)=http://127.0.0.1:\(ports[3 + $0 - 1])" }.joined(separator: ",")
    var processes: [Process] = []
    for node in 1...3 {
        let client = "http://127.0.0.1:\(ports[node - 1])"
        let peer = "http://127.0.0.1:\(ports[3 + node - 1])"
        processes.append(launch(etcdPath, ["--name", "e\(node)", "--data-dir", "\(root)/etcd-\(node)",
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "aegis-bench",
            "--logger", "zap", "--log-level", "error"], log: "\(root)/etcd-\(node).log"))
    }
    let leader = await waitFor("an etcd leader") {
        for node in 1...3 {
            let url = "http://127.0.0.1:\(ports[node - 1])"
            guard let (status, body) = try? await request(.POST, url + "/v3/maintenance/status", body: Data("{}".utf8)), status == 200 else { continue }
            let answer = json(body)
            guard let header = answer["header"] as? [String: Any], let member = header["member_id"] as? String,
                  let leader = answer["leader"] as? String, leader != "0" else { continue }
            if member == leader { return url }
        }
        return nil
    }
    let url = leader + "/v3/kv/put"
    return Cluster(name: "etcd", processes: processes, leaderURL: leader) { key, value in
        let body = try JSONSerialization.data(withJSONObject: [
            "key": Data(key.utf8).base64EncodedString(), "value": Data(value.utf8).base64EncodedString(),
        ])
        let (status, reply) = try await request(.POST, url, body: body)
        return status == 200 && json(reply)["header"] != nil
    }
}

// MARK: the load

struct LoadResult {
    var writesPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var errors: Int
}

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.down)))]
}

func drive(_ cluster: Cluster, clients: Int) async -> LoadResult {
    let value = String(repeating: "v", count: valueBytes)
    let clock = ContinuousClock()
    let start = clock.now
    let measureFrom = start + .milliseconds(Int(warmup * 1000))
    let end = measureFrom + .milliseconds(Int(seconds * 1000))
    let perClient: [([Double], Int)] = await withTaskGroup(of: ([Double], Int).self) { group in
        for client in 0..<clients {
            group.addTask {
                var generator = SystemRandomNumberGenerator()
                var latencies: [Double] = []
                var errors = 0
                var sequence = 0
                while clock.now < end {
                    let key = "bench-\(Int.random(in: 0..<keySpace, using: &generator))"
                    sequence += 1
                    let began = clock.now
                    let ok = (try? await cluster.write(key, value + "\(client)-\(sequence)")) ?? false
                    let finished = clock.now
                    guard began >= measureFrom, finished <= end else { continue }
                    if ok {
                        let elapsed = finished - began
                        latencies.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                    } else {
                        errors += 1
                    }
                }
                return (latencies, errors)
            }
        }
        var all: [([Double], Int)] = []
        for await result in group { all.append(result) }
        return all
    }
    let latencies = perClient.flatMap(\.0).sorted()
    return LoadResult(writesPerSecond: Double(latencies.count) / seconds,
                      p50Milliseconds: percentile(latencies, 0.50), p99Milliseconds: percentile(latencies, 0.99),
                      errors: perClient.map(\.1).reduce(0, +))
}

// MARK: main

var results: [String: [Int: LoadResult]] = [:]
for name in system == "both" ? ["Aegis", "etcd"] : [system == "aegis" ? "Aegis" : "etcd"] {
    let cluster = name == "Aegis" ? await startAegis() : await startEtcd()
    FileHandle.standardError.write(Data("\(name): 3 nodes up, leader at \(cluster.leaderURL)\n".utf8))
    for clients in clientCounts {
        let result = await drive(cluster, clients: clients)
        results[name, default: [:]][clients] = result
        FileHandle.standardError.write(Data(String(format: "  %@ %4d clients: %8.0f writes/s  p50 %6.2f ms  p99 %7.2f ms  errors %d\n",
            name, clients, result.writesPerSecond, result.p50Milliseconds, result.p99Milliseconds, result.errors).utf8))
    }
    stop(cluster.processes)
}
try? await http.shutdown()

print("ClusterBench: 3-node clusters on loopback, \(valueBytes)-byte values, \(keySpace) keys, \(Int(seconds)) s per point after \(Int(warmup)) s warm-up")
print("  clients   Aegis writes/s  p50 ms  p99 ms    etcd writes/s  p50 ms  p99 ms    throughput Aegis/etcd  p99 Aegis/etcd")
for clients in clientCounts {
    let aegis = results["Aegis"]?[clients]
    let etcd = results["etcd"]?[clients]
    func cells(_ result: LoadResult?) -> String {
        guard let result else { return String(repeating: " ", count: 31) + "-" }
        return String(format: "%14.0f  %6.2f  %6.2f", result.writesPerSecond, result.p50Milliseconds, result.p99Milliseconds)
    }
    var ratio = "-"
    var p99 = "-"
    if let aegis, let etcd {
        ratio = String(format: "%.2fx", aegis.writesPerSecond / etcd.writesPerSecond)
        p99 = String(format: "%.2fx", aegis.p99Milliseconds / etcd.p99Milliseconds)
    }
    print(String(format: "  %7d", clients) + " " + cells(aegis) + "   " + cells(etcd) + "    " + ratio.padding(toLength: 21, withPad: " ", startingAt: 0) + "  " + p99)
    if let aegis, aegis.errors > 0 { print("    (Aegis: \(aegis.errors) failed writes)") }
    if let etcd, etcd.errors > 0 { print("    (etcd: \(etcd.errors) failed writes)") }
}
try? FileManager.default.removeItem(atPath: root)
