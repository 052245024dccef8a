// The sharded node in the simulator, two questions:
//
// 1. What do many Raft groups cost a node when idle? Three nodes each host every one of
//    G groups (G data shards of three replicas, plus the meta group), no client writes,
//    10 simulated seconds. Reported per node and simulated second: Raft messages, the
//    network messages they travel in (batched per peer), log syncs, and the wall time
//    the simulator spent (one core) — the CPU that ticking and heartbeats take.
//
// 2. How does throughput change from 1 to 3 to 5 nodes? Eight shards (three replicas
//    each; one on a single node), 1,000 accounts, bank transfers (about 7 in 8 touch two
//    shards) from 256 clients with at most 1 ms of think time, no faults, 10 simulated
//    seconds: the transfers committed per simulated second. A simulated node is busy
//    for the latency of its disk calls (10–200 µs each), so a node's log syncs bound what
//    it can do; more nodes share the groups' replicas, leaders and syncs. Network latency
//    is 0.5 ms plus an exponential of mean 1 ms. It measures the protocol, its batching
//    and its disk waits, not CPU (the simulator has no CPU cost).
//
// Usage: MultiRaftBench [--groups 10,100,300,1000] [--nodes 1,3,5] [--clients 256]
//                       [--accounts 1000] [--seeds 3]
import Foundation
import Sim

func option(_ name: String) -> String? {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}
let groupCounts = (option("--groups") ?? "10,100,300,1000").split(separator: ",").compactMap { Int($0) }
let nodeCounts = (option("--nodes") ?? "1,3,5").split(separator: ",").compactMap { Int($0) }
let seeds = Int(option("--seeds") ?? "3") ?? 3
let clients = Int(option("--clients") ?? "256") ?? 256
let accounts = Int(option("--accounts") ?? "1000") ?? 1000

struct Figures {
    var summary: [String: Double] = [:]
    var wallSeconds = 0.0
    var simulatedSeconds = 0.0
    var outcome = ""
}

/// Runs `text` for `seed`; the summary's `name=number` pairs, wall and simulated time.
func run(_ text: String, seed: UInt64) -> Figures {
    let scenario: Scenario
    do { scenario = try ScenarioParser.parse(text: text, file: "bench.yaml") } catch {
        FileHandle.standardError.write(Data("error: the benchmark's scenario does not parse: \(error)\n".utf8))
        exit(2)
    }
    let clock = ContinuousClock()
    let started = clock.now
    let output = Runner.run(RunRequest(scenarioFile: "bench.yaml", scenario: scenario, seed: seed, mutations: [], build: "benchmark"),
        recording: false)
    let elapsed = (clock.now - started).components
    var figures = Figures()
    figures.wallSeconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    figures.simulatedSeconds = Double(output.result.simulatedNanoseconds) / 1e9
    figures.outcome = output.result.outcome.rawValue
    for part in output.result.summary.split(separator: " ") {
        let pair = part.split(separator: "=")
        if pair.count == 2, let number = Double(pair[1]) { figures.summary[String(pair[0])] = number }
    }
    return figures
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

print("MultiRaftBench: the sharded node in the simulator, \(seeds) seeds a point (medians)")
print("")
print("idle groups: 3 nodes, each hosting every group; per node and simulated second")
print("  groups   raft messages/s   network messages/s   log syncs/s   wall ms/s (one core)")
for groups in groupCounts {
    let text = """
        name: idle-groups
        topology: {nodes: 3}
        workload: {kind: shard-bank, clients: 1, operations: 0, keys: \(max(groups, 2))}
        shards: {initial: \(groups), replication: 3, rebalance: false}
        duration: 10s
        liveness_bound: 30s
        checks: [raft-safety]
        """
    var messages: [Double] = [], batches: [Double] = [], syncs: [Double] = [], wall: [Double] = []
    for seed in 1...UInt64(seeds) {
        let figures = run(text, seed: seed)
        let perNodeSecond = 3 * figures.simulatedSeconds
        messages.append((figures.summary["raft-messages"] ?? 0) / perNodeSecond)
        batches.append((figures.summary["raft-batches"] ?? 0) / perNodeSecond)
        syncs.append((figures.summary["log-syncs"] ?? 0) / perNodeSecond)
        wall.append(figures.wallSeconds * 1000 / perNodeSecond)
    }
    print(String(format: "  %6d   %15.0f   %18.0f   %11.1f   %10.2f", groups, median(messages), median(batches), median(syncs), median(wall)))
}

print("")
print("throughput: 8 shards, \(accounts) accounts, \(clients) clients, no faults, 10 simulated seconds")
print("  nodes   transfers/s   of them two-phase   vs 1 node")
var first: Double?
for nodes in nodeCounts {
    let text = """
        name: scaling
        topology: {nodes: \(nodes)}
        workload: {kind: shard-bank, clients: \(clients), operations: 100000, keys: \(accounts), mix: {read: 0.0, write: 1.0, cas: 0.0}, think_time: [0ms, 1ms], request_timeout: 500ms, operation_timeout: 4s}
        shards: {initial: 8, replication: \(min(3, nodes))}
        duration: 10s
        liveness_bound: 1s
        checks: [raft-safety]
        """
    var rates: [Double] = [], twoPhaseShare: [Double] = []
    for seed in 1...UInt64(seeds) {
        let figures = run(text, seed: seed)
        rates.append((figures.summary["committed-in-fault-phase"] ?? 0) / 10)
        let one = figures.summary["one-phase"] ?? 0, two = figures.summary["two-phase"] ?? 0
        twoPhaseShare.append(one + two > 0 ? two / (one + two) : 0)
    }
    let rate = median(rates)
    first = first ?? rate
    print(String(format: "  %5d   %11.0f   %16.0f%%   %8.2fx", nodes, rate, median(twoPhaseShare) * 100, rate / first!))
}
