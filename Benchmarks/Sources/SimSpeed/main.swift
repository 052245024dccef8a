// Measures how fast the simulator runs a scenario: simulated seconds per wall second
// and events per second, on one core (one simulation at a time), over several rounds.
// The bar named by the foundation issue is TigerBeetle's simulator at about 1,000x
// real time on a machine like this one; that figure is quoted, not measured here.
//
// Usage: SimSpeed [SCENARIO] [--seeds N] [--rounds R]
import Foundation
import Sim

func option(_ name: String, in arguments: inout [String], default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else {
        return value
    }
    arguments.removeSubrange(index...(index + 1))
    return parsed
}
var arguments = Array(CommandLine.arguments.dropFirst())
let seeds = option("--seeds", in: &arguments, default: 200)
let rounds = option("--rounds", in: &arguments, default: 5)
let path = arguments.first ?? "Scenarios/smoke.yaml"

guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
    FileHandle.standardError.write(Data("error: \(path): cannot read the scenario; run from the repository root or give a path\n".utf8))
    exit(2)
}
let scenario: Scenario
do {
    scenario = try ScenarioParser.parse(text: text, file: path)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(2)
}

struct Round {
    var simulatedSeconds: Double
    var wallSeconds: Double
    var events: UInt64
    var speedup: Double { simulatedSeconds / wallSeconds }
    var eventsPerSecond: Double { Double(events) / wallSeconds }
}

print("benchmark  simulator speed: \(scenario.name) (\(path)), \(seeds) seeds per round, \(rounds) rounds, one core")
var results: [Round] = []
let clock = ContinuousClock()
for round in 1...rounds {
    var simulated: UInt64 = 0
    var events: UInt64 = 0
    let started = clock.now
    for seed in 1...UInt64(seeds) {
        let request = RunRequest(scenarioFile: path, scenario: scenario, seed: seed, mutations: [], build: "benchmark")
        let output = Runner.run(request, recording: false)
        precondition(output.result.outcome == .pass, "seed \(seed) failed; a benchmark of a failing run means nothing")
        simulated += output.result.simulatedNanoseconds
        events += output.result.steps
    }
    let (seconds, attoseconds) = (clock.now - started).components
    let wall = Double(seconds) + Double(attoseconds) / 1e18
    let result = Round(simulatedSeconds: Double(simulated) / 1e9, wallSeconds: wall, events: events)
    results.append(result)
    print(String(format: "round %d    %.0fx real time, %.0f events/s (%.1f s simulated in %.3f s)",
        round, result.speedup, result.eventsPerSecond, result.simulatedSeconds, result.wallSeconds))
}
let sortedSpeed = results.map(\.speedup).sorted()
let sortedEvents = results.map(\.eventsPerSecond).sorted()
let median = sortedSpeed[sortedSpeed.count / 2]
print(String(format: "median     %.0fx real time (min %.0fx, max %.0fx), %.0f events/s",
    median, sortedSpeed.first!, sortedSpeed.last!, sortedEvents[sortedEvents.count / 2]))
print(String(format: "vs bar     %.1f times the ~1000x real time quoted for TigerBeetle's simulator", median / 1000))
