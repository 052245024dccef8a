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
import Foundation
import LiveBenchSupport
import NIOHTTP1

let clientCounts = (option("--clients") ?? "16,64,256").split(separator: ",").compactMap { Int($0) }
let seconds = Double(option("--seconds") ?? "5") ?? 5
let warmup = Double(option("--warmup") ?? "1") ?? 1
let valueBytes = Int(option("--value-bytes") ?? "100") ?? 100
let system = option("--system") ?? "both"
let keySpace = 100_000
guard !clientCounts.isEmpty, clientCounts.allSatisfy({ (1...4096).contains($0) }) else { fail("--clients takes numbers from 1 to 4096, like 16,64,256") }
guard ["both", "aegis", "etcd"].contains(system) else { fail("--system takes both, aegis or etcd") }

let etcdPath = option("--etcd") ?? "/usr/bin/etcd"
let root = benchDirectory("aegis-cluster-bench")
let http = BenchHTTP(connections: (clientCounts.max() ?? 16) + 8)

@Sendable func request(_ method: HTTPMethod, _ url: String, body: Data? = nil) async throws -> (Int, Data) {
    let (status, data) = try await http.request(method, url, body: body)
    return (status, data)
}

func waitFor(_ what: String, seconds: Double = 30, _ condition: () async -> String?) async -> String {
    await LiveBenchSupport.waitFor(what, seconds: seconds, logs: root, condition)
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
                        latencies.append(milliseconds(finished - began))
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
await http.shutdown()

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
