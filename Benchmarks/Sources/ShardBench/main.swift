// Transfers per second on a sharded Aegis cluster of real processes on loopback: single-
// shard transfers (both accounts on one shard: one Raft log entry commits them) against
// cross-shard transfers (accounts on two shards: two-phase commit), measured in the same
// run. Each client sends one transfer at a time, POST /api/v1/kv/txn with two `add`s
// (the payer's with a floor of 0), to the nodes in turn; the server reads both accounts
// in one transaction and writes both in a second one conditioned on what it read. At the
// end the total of every account must be what it was at the start.
//
// Usage: ShardBench [--nodes 3] [--shards 8] [--clients 16,64] [--seconds 5] [--warmup 1]
//                   [--accounts-per-shard 32] [--aegis PATH] [--dir PATH]
import Foundation
import LiveBenchSupport

let nodes = Int(option("--nodes") ?? "3") ?? 3
let shards = Int(option("--shards") ?? "8") ?? 8
let clientCounts = (option("--clients") ?? "16,64").split(separator: ",").compactMap { Int($0) }
let seconds = Double(option("--seconds") ?? "5") ?? 5
let warmup = Double(option("--warmup") ?? "1") ?? 1
let accountsPerShard = Int(option("--accounts-per-shard") ?? "32") ?? 32
let startingBalance = 1_000
guard (1...7).contains(nodes) else { fail("--nodes takes 1 to 7") }
guard (2...64).contains(shards) else { fail("--shards takes 2 to 64 (cross-shard transfers need two)") }
guard !clientCounts.isEmpty, clientCounts.allSatisfy({ (1...1024).contains($0) }) else { fail("--clients takes numbers from 1 to 1024, like 16,64") }
guard (2...1000).contains(accountsPerShard) else { fail("--accounts-per-shard takes 2 to 1000") }

let root = benchDirectory("aegis-shard-bench")
let http = BenchHTTP(connections: (clientCounts.max() ?? 16) + 8)

// MARK: the cluster

let binary = findAegis()
let ports = freePorts(2 * nodes)
let endpoints = (0..<nodes).map { "http://127.0.0.1:\(ports[$0])" }
var processes: [Process] = []
for node in 1...nodes {
    let peers = (1...nodes).filter { $0 != node }.map { "\($0)=127.0.0.1:\(ports[nodes + $0 - 1])" }.joined(separator: ",")
    var arguments = ["server", "--node-id", "\(node)", "--http", "127.0.0.1:\(ports[node - 1])",
                     "--raft", "127.0.0.1:\(ports[nodes + node - 1])", "--data-dir", "\(root)/node-\(node)",
                     "--shards", "\(shards)", "--log-level", "warning"]
    if !peers.isEmpty { arguments += ["--peers", peers] }
    processes.append(launch(binary, arguments, log: "\(root)/node-\(node).log"))
}

/// Each data shard's [start, end) and leader, once every node sees a leader for each.
struct ShardRange { var start: String; var end: String? }
let ranges: [ShardRange] = await waitFor("every node to see a leader for each of the \(shards) data shards", seconds: 60, logs: root) {
    var ranges: [ShardRange]?
    for endpoint in endpoints {
        guard let (status, body) = try? await http.request(.GET, endpoint + "/api/v1/cluster/shards"), status == 200,
              let list = json(body)["shards"] as? [[String: Any]] else { return nil }
        let data = list.filter { $0["role"] as? String == "data" }
        guard data.count == shards, data.allSatisfy({ $0["leader_id"] is Int }) else { return nil }
        ranges = data.map { shard in
            let range = shard["range"] as? [String: Any] ?? [:]
            return ShardRange(start: range["start"] as? String ?? "", end: range["end"] as? String)
        }
    }
    return ranges
}
note("ShardBench: \(nodes) nodes up with \(shards) data shards each with a leader (logs in \(root))")

/// Account keys per shard, each inside its shard's range.
let accounts: [[String]] = ranges.map { range in
    let prefix = range.start.isEmpty ? "0" : range.start
    return (0..<accountsPerShard).map { index in
        let key = prefix + "acct\(index)"
        precondition(key >= range.start && (range.end.map { key < $0 } ?? true), "\(key) falls outside [\(range.start), \(range.end ?? "∞"))")
        return key
    }
}

@Sendable func transaction(_ operations: [[String: Any]], at endpoint: String) async throws -> (status: Int, body: [String: Any]) {
    let body = try JSONSerialization.data(withJSONObject: ["operations": operations])
    let (status, data) = try await http.request(.POST, endpoint + "/api/v1/kv/txn", body: body)
    return (status, json(data))
}

for (index, keys) in accounts.enumerated() {
    let puts: [[String: Any]] = keys.map { ["op": "put", "key": $0, "value": startingBalance] }
    for chunk in stride(from: 0, to: puts.count, by: 64) {
        let (status, body) = try await transaction(Array(puts[chunk..<min(chunk + 64, puts.count)]), at: endpoints[index % nodes])
        guard status == 200 else { fail("setting up the accounts failed with \(status): \(body)") }
    }
}

// MARK: the load

enum Mode: String, CaseIterable { case single = "single-shard", cross = "cross-shard" }

struct LoadResult {
    var transfersPerSecond: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    var refused: Int
    var errors: Int
}

func drive(_ mode: Mode, clients: Int) async -> LoadResult {
    let clock = ContinuousClock()
    let measureFrom = clock.now + .milliseconds(Int(warmup * 1000))
    let end = measureFrom + .milliseconds(Int(seconds * 1000))
    let perClient: [([Double], Int, Int)] = await withTaskGroup(of: ([Double], Int, Int).self) { group in
        for client in 0..<clients {
            group.addTask {
                var generator = SystemRandomNumberGenerator()
                var latencies: [Double] = []
                var refused = 0
                var errors = 0
                var turn = client
                while clock.now < end {
                    let payerShard = Int.random(in: 0..<shards, using: &generator)
                    var payeeShard = payerShard
                    if mode == .cross {
                        payeeShard = (payerShard + Int.random(in: 1..<shards, using: &generator)) % shards
                    }
                    let payer = accounts[payerShard].randomElement(using: &generator)!
                    var payee = accounts[payeeShard].randomElement(using: &generator)!
                    while payee == payer { payee = accounts[payeeShard].randomElement(using: &generator)! }
                    let amount = Int.random(in: 1...10, using: &generator)
                    turn += 1
                    let began = clock.now
                    let answer = try? await transaction([
                        ["op": "add", "key": payer, "delta": -amount, "min": 0],
                        ["op": "add", "key": payee, "delta": amount],
                    ], at: endpoints[turn % nodes])
                    let finished = clock.now
                    guard began >= measureFrom, finished <= end else { continue }
                    switch answer?.status {
                    case 200: latencies.append(milliseconds(finished - began))
                    case 409: refused += 1
                    default:
                        errors += 1
                        if errors == 1 {
                            let text = answer.map { "\($0.status) \($0.body["code"] ?? "") \($0.body["error"] ?? "")" } ?? "no answer"
                            note("    a \(mode.rawValue) transfer failed: \(text)")
                        }
                    }
                }
                return (latencies, refused, errors)
            }
        }
        var all: [([Double], Int, Int)] = []
        for await result in group { all.append(result) }
        return all
    }
    let latencies = perClient.flatMap(\.0).sorted()
    return LoadResult(transfersPerSecond: Double(latencies.count) / seconds,
                      p50Milliseconds: percentile(latencies, 0.50), p99Milliseconds: percentile(latencies, 0.99),
                      refused: perClient.map(\.1).reduce(0, +), errors: perClient.map(\.2).reduce(0, +))
}

var results: [Mode: [Int: LoadResult]] = [:]
for clients in clientCounts {
    for mode in Mode.allCases {
        let result = await drive(mode, clients: clients)
        results[mode, default: [:]][clients] = result
        note(String(format: "  %@ %4d clients: %7.0f transfers/s  p50 %6.2f ms  p99 %7.2f ms  refused %d  errors %d",
            mode.rawValue, clients, result.transfersPerSecond, result.p50Milliseconds, result.p99Milliseconds, result.refused, result.errors))
    }
}

// Money is neither made nor lost.
var total = 0
for keys in accounts {
    for chunk in stride(from: 0, to: keys.count, by: 64) {
        let gets: [[String: Any]] = keys[chunk..<min(chunk + 64, keys.count)].map { ["op": "get", "key": $0] }
        let (status, body) = try await transaction(gets, at: endpoints[0])
        guard status == 200, let reads = body["reads"] as? [[String: Any]] else { fail("reading the balances failed with \(status): \(body)") }
        total += reads.compactMap { $0["value"] as? Int }.reduce(0, +)
    }
}
let expected = startingBalance * accountsPerShard * shards
stop(processes)
await http.shutdown()

print("ShardBench: \(nodes) nodes on loopback, \(shards) data shards, \(accountsPerShard * shards) accounts, \(Int(seconds)) s per point after \(Int(warmup)) s warm-up")
print("  clients   single-shard/s  p50 ms  p99 ms    cross-shard/s  p50 ms  p99 ms    cross/single")
for clients in clientCounts {
    guard let single = results[.single]?[clients], let cross = results[.cross]?[clients] else { continue }
    func cells(_ result: LoadResult) -> String {
        String(format: "%14.0f  %6.2f  %6.2f", result.transfersPerSecond, result.p50Milliseconds, result.p99Milliseconds)
    }
    print(String(format: "  %7d", clients) + " " + cells(single) + "   " + cells(cross) + "    "
        + String(format: "%.2fx", cross.transfersPerSecond / single.transfersPerSecond))
    for (mode, result) in [(Mode.single, single), (.cross, cross)] where result.errors > 0 || result.refused > 0 {
        print("    (\(mode.rawValue): \(result.refused) refused for lack of funds, \(result.errors) failed)")
    }
}
print("  balances: total \(total), expected \(expected) — " + (total == expected ? "conserved" : "NOT CONSERVED"))
try? FileManager.default.removeItem(atPath: root)
if total != expected { exit(1) }
