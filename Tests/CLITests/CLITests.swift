import AegisTestSupport
import Foundation
import Testing

/// Determinism across processes: the same scenario and seed give byte-identical
/// traces in separate processes, with and without deterministic hashing.
@Suite struct CrossProcessDeterminismTests {
    @Test(arguments: [
        ("probe/smoke", 42), ("probe/crashes", 7), ("probe/disk-faults", 3),
        ("smoke", 42), ("crashes", 7), ("disk-faults", 3), ("partitions", 5), ("clock-faults", 9),
        ("membership", 4), ("snapshots", 2), ("storage", 11), ("storage-disk-full", 6),
    ])
    func twoProcessesWriteIdenticalTraces(name: String, seed: Int) throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = directory.appendingPathComponent("a.trace")
        let second = directory.appendingPathComponent("b.trace")
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_DETERMINISTIC_HASHING"] = nil
        let a = try AegisProcess.run(["sim", "run", "Scenarios/\(name).yaml", "--seed", "\(seed)", "--trace", first.path], environment: environment)
        environment["SWIFT_DETERMINISTIC_HASHING"] = "1"
        let b = try AegisProcess.run(["sim", "run", "Scenarios/\(name).yaml", "--seed", "\(seed)", "--trace", second.path], environment: environment)
        #expect(a.status == 0, "\(a.standardOutput)\(a.standardError)")
        #expect(b.status == 0)
        let textA = try AegisProcess.read(first)
        let textB = try AegisProcess.read(second)
        #expect(textA.count > 1000)
        #expect(textA == textB)
    }

    @Test func differentSeedsWriteDifferentTraces() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var events: [String] = []
        for seed in [1, 2] {
            let path = directory.appendingPathComponent("\(seed).trace").path
            _ = try AegisProcess.run(["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "\(seed)", "--trace", path])
            let text = try AegisProcess.read(URL(fileURLWithPath: path))
            events.append(String(text[text.range(of: "\nevents\n")!.upperBound...]))
        }
        #expect(events[0] != events[1])
    }
}

@Suite struct ReplayCommandTests {
    @Test func replayOfARaftRunNamesAnEditedStep() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trace = directory.appendingPathComponent("a.trace")
        _ = try AegisProcess.run(["sim", "run", "Scenarios/smoke.yaml", "--seed", "42", "--trace", trace.path])
        let replay = try AegisProcess.run(["sim", "replay", trace.path])
        #expect(replay.status == 0, "\(replay.standardOutput)")
        #expect(replay.standardOutput.contains("reproduced: identical through step"))
        var lines = try AegisProcess.read(trace).components(separatedBy: "\n")
        let index = try #require(lines.firstIndex { $0.hasPrefix("2000 ") })
        var fields = lines[index].components(separatedBy: " ")
        fields[2] = fields[2] == "n1" ? "n2" : "n1"
        lines[index] = fields.joined(separator: " ")
        let edited = directory.appendingPathComponent("edited.trace")
        try lines.joined(separator: "\n").write(to: edited, atomically: true, encoding: .utf8)
        let diverged = try AegisProcess.run(["sim", "replay", edited.path])
        #expect(diverged.status == 4)
        #expect(diverged.standardOutput.contains("diverged at step 2000:"))
    }

    @Test func rerunOfEveryKeptRegressionPasses() throws {
        let folder = AegisProcess.packageRoot.appendingPathComponent("Traces/regressions")
        let traces = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".trace") }.sorted()
        #expect(!traces.isEmpty)
        for trace in traces {
            let result = try AegisProcess.run(["sim", "rerun", folder.appendingPathComponent(trace).path])
            #expect(result.status == 0, "\(trace): \(result.standardOutput)")
            #expect(result.standardOutput.contains("result    pass"))
        }
    }

    @Test func replayReproducesAndNamesAnEditedStep() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trace = directory.appendingPathComponent("a.trace")
        _ = try AegisProcess.run(["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "42", "--trace", trace.path])
        let replay = try AegisProcess.run(["sim", "replay", trace.path])
        #expect(replay.status == 0)
        #expect(replay.standardOutput.contains("reproduced: identical through step"))

        var lines = try AegisProcess.read(trace).components(separatedBy: "\n")
        let index = try #require(lines.firstIndex { $0.hasPrefix("321 ") })
        var fields = lines[index].components(separatedBy: " ")
        fields[4] = "0123456789abcdef"
        lines[index] = fields.joined(separator: " ")
        let edited = directory.appendingPathComponent("edited.trace")
        try lines.joined(separator: "\n").write(to: edited, atomically: true, encoding: .utf8)
        let diverged = try AegisProcess.run(["sim", "replay", edited.path])
        #expect(diverged.status == 4)
        #expect(diverged.standardOutput.contains("diverged at step 321:"))
    }

    @Test func verboseReplayPrintsOneNodesTimeline() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trace = directory.appendingPathComponent("a.trace")
        _ = try AegisProcess.run(["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "1", "--trace", trace.path])
        let replay = try AegisProcess.run(["sim", "replay", trace.path, "--verbose", "--node", "n2", "--from", "100", "--until", "400"])
        #expect(replay.status == 0)
        let timeline = replay.standardOutput.components(separatedBy: "\n").filter { $0.hasPrefix("  ") }
        #expect(!timeline.isEmpty)
        #expect(timeline.allSatisfy { $0.components(separatedBy: " ")[4] == "n2" })
        #expect(replay.standardOutput.contains("reproduced: identical through step 400"))
    }
}

@Suite struct MutationAndHistoryTests {
    @Test func mutationsAreListedWithWhatTheyBreak() throws {
        let result = try AegisProcess.run(["sim", "mutations"])
        #expect(result.status == 0)
        for name in ["raft-vote-twice", "raft-commit-old-term", "raft-ack-before-sync", "raft-skip-log-matching",
                     "raft-follower-read", "probe-skip-sync", "storage-skip-wal-sync",
                     "storage-manifest-rename-before-sync", "storage-ignore-block-checksum"] {
            #expect(result.standardOutput.contains(name + " "), "\(name) missing")
        }
        #expect(result.standardOutput.components(separatedBy: "\n").filter { !$0.isEmpty }.count >= 11)
    }

    /// A history written with --history is one JSON object per line with the fields
    /// outside checkers read, and an independent checker (tools/linearizability,
    /// Python, no shared code) accepts it.
    @Test func historyIsJSONLinesAcceptedByTheIndependentChecker() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let history = directory.appendingPathComponent("h.jsonl")
        let run = try AegisProcess.run(["sim", "run", "Scenarios/partitions.yaml", "--seed", "3", "--history", history.path])
        #expect(run.status == 0, "\(run.standardOutput)")
        let lines = try AegisProcess.read(history).components(separatedBy: "\n").filter { !$0.isEmpty }
        #expect(lines.count > 500)
        for line in lines.prefix(50) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(object.keys) == ["process", "type", "f", "key", "value", "time"])
        }
        let (status, text) = try runIndependentChecker(history)
        #expect(status == 0, "\(text)")
    }

    /// The two checkers agree on a planted stale read: a seed the simulator's checker
    /// rejects, the independent one rejects too.
    @Test func independentCheckerRejectsAPlantedStaleRead() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let history = directory.appendingPathComponent("h.jsonl")
        var caught = false
        for seed in 1...30 {
            let run = try AegisProcess.run(["sim", "run", "Scenarios/partitions.yaml", "--seed", "\(seed)",
                                            "--mutation", "raft-follower-read", "--history", history.path,
                                            "--trace", directory.appendingPathComponent("t.trace").path])
            guard run.status == 1 else { continue }
            #expect(run.standardOutput.contains("is not linearizable"), "\(run.standardOutput)")
            let (status, text) = try runIndependentChecker(history)
            #expect(status == 1, "\(text)")
            #expect(text.contains("NOT LINEARIZABLE"))
            caught = true
            break
        }
        #expect(caught, "no stale read was caught in 30 seeds")
    }

    private func runIndependentChecker(_ history: URL) throws -> (Int32, String) {
        let checker = Process()
        checker.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        checker.arguments = ["python3", AegisProcess.packageRoot.appendingPathComponent("tools/linearizability/check.py").path,
                             history.path]
        let output = Pipe()
        checker.standardOutput = output
        checker.standardError = output
        try checker.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        checker.waitUntilExit()
        return (checker.terminationStatus, text)
    }

    @Test func historyNeedsARegisterWorkload() throws {
        let result = try AegisProcess.run(["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "1", "--history", "/tmp/unused.jsonl"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("--history needs a workload that keeps a history"))
    }
}

@Suite struct ExitCodeTests {
    @Test func passingRunExitsZeroAndPrintsOptionsFirst() throws {
        let result = try AegisProcess.run(["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "42"])
        #expect(result.status == 0)
        #expect(result.standardOutput.hasPrefix("scenario  smoke"))
        #expect(result.standardOutput.contains("network.loss"))
        #expect(result.standardOutput.contains("result    pass"))
    }

    @Test func safetyAndLivenessViolationsHaveTheirOwnCodes() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let safety = try AegisProcess.run(
            ["sim", "sweep", "\(AegisProcess.packageRoot.path)/Scenarios/probe/crashes.yaml", "--seeds", "1..60",
             "--mutation", "probe-skip-sync", "--trace-dir", directory.path, "--traces-max", "1"], in: directory)
        #expect(safety.status == 1, "\(safety.standardOutput)")
        #expect(safety.standardOutput.contains("reproduce: aegis sim run"))
        let failing = try #require(safety.standardOutput.components(separatedBy: "\n").first { $0.hasPrefix("  seed ") })
        let seed = failing.components(separatedBy: " ").filter { !$0.isEmpty }[1]
        let single = try AegisProcess.run(
            ["sim", "run", "\(AegisProcess.packageRoot.path)/Scenarios/probe/crashes.yaml", "--seed", seed,
             "--mutation", "probe-skip-sync"], in: directory)
        #expect(single.status == 1)
        #expect(single.standardOutput.contains("trace     Traces/new/crashes-seed\(seed).trace"))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("Traces/new/crashes-seed\(seed).trace").path))

        let liveness = try AegisProcess.run(["sim", "run", "Scenarios/probe/crashes.yaml", "--seed", "1", "--mutation", "probe-no-gossip", "--trace", directory.appendingPathComponent("l.trace").path])
        #expect(liveness.status == 3)
    }

    @Test func sweepShardsSplitTheSeeds() throws {
        let whole = try AegisProcess.run(["sim", "sweep", "Scenarios/probe/smoke.yaml", "--seeds", "1..9", "--jobs", "2"])
        let shard = try AegisProcess.run(["sim", "sweep", "Scenarios/probe/smoke.yaml", "--seeds", "1..9", "--shard", "2/3"])
        #expect(whole.status == 0)
        #expect(whole.standardOutput.contains("9 seeds on 2 jobs"))
        #expect(whole.standardOutput.contains("passed    9"))
        #expect(shard.standardOutput.contains("shard 2/3: 3 seeds"))
        #expect(whole.standardOutput.contains("events/s"))
        #expect(whole.standardOutput.contains("real time"))
    }
}

/// Bad input: one line naming the file, the line and the field, exit code 2, never a crash.
@Suite struct BadInputTests {
    @Test(arguments: [
        ("name: x\nfaults:\n  network:\n    loss: two\n", "bad.yaml:4: field 'faults.network.loss': must be a number"),
        ("name: [unclosed\n", "bad.yaml:2: is not valid YAML"),
        ("name: x\nworkload: {kind: raft}\n", "bad.yaml:2: field 'workload.kind'"),
        ("name: x\ntopology: {nodes: 3}\nfaults: {process: {permanent_failures: 2}}\n", "bad.yaml:1: field 'faults.process.permanent_failures': must be at most a minority"),
        ("name: x\nraft: {election_ticks: 3, heartbeat_ticks: 2}\n", "bad.yaml:2: field 'raft.election_ticks': must be at least twice heartbeat_ticks"),
    ])
    func malformedScenario(text: String, expected: String) throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try text.write(to: directory.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        let result = try AegisProcess.run(["sim", "run", "bad.yaml", "--seed", "1"], in: directory)
        #expect(result.status == 2)
        #expect(result.standardError.hasPrefix("error: \(expected)"), "\(result.standardError)")
        #expect(result.standardError.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 1)
        #expect(result.standardOutput.isEmpty)
    }

    @Test func malformedTrace() throws {
        let directory = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "aegis-trace 1\nscenario-file x\nseed -3\n".write(to: directory.appendingPathComponent("bad.trace"), atomically: true, encoding: .utf8)
        let result = try AegisProcess.run(["sim", "replay", "bad.trace"], in: directory)
        #expect(result.status == 2)
        #expect(result.standardError == "error: bad.trace:3: field 'seed': '-3' is not a whole number\n")
    }

    @Test(arguments: [
        ["sim", "run", "Scenarios/missing.yaml", "--seed", "1"],
        ["sim", "run", "Scenarios/probe/smoke.yaml"],
        ["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "-1"],
        ["sim", "run", "Scenarios/probe/smoke.yaml", "--seed", "1", "--mutation", "nope"],
        ["sim", "sweep", "Scenarios/probe/smoke.yaml", "--seeds", "9..1"],
        ["sim", "sweep", "Scenarios/probe/smoke.yaml", "--seeds", "1..3", "--shard", "4/3"],
        ["sim", "replay", "Scenarios"],
        ["sim", "frobnicate"],
    ])
    func badArgumentsExitTwo(arguments: [String]) throws {
        let result = try AegisProcess.run(arguments)
        #expect(result.status == 2, "\(arguments): \(result.standardError)")
        #expect(result.standardError.hasPrefix("error: "))
    }

    @Test func helpTeaches() throws {
        let help = try AegisProcess.run(["sim", "sweep", "--help"])
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("--shard"))
        #expect(help.standardOutput.contains("reproduces"))
    }
}

/// The determinism lint passes on the tree and fails on a planted wall-clock call.
@Suite struct DeterminismLintTests {
    private func lint(_ root: URL) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [AegisProcess.packageRoot.appendingPathComponent("scripts/lint-determinism.sh").path, root.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func treeIsClean() throws {
        let (status, output) = try lint(AegisProcess.packageRoot)
        #expect(status == 0, "\(output)")
    }

    @Test(arguments: [
        ("Aegis", "let started = Date()"),
        ("Aegis", "let queue = DispatchQueue(label: \"x\")"),
        ("Sim", "func f() async { await g() }"),
        ("Sim", "let x = Int.random(in: 0..<10)"),
        ("Aegis", "let data = FileManager.default.contents(atPath: p)"),
        ("Sim", "for key in table.keys { print(key) }"),
        ("Aegis", "let t = Thread { }"),
    ])
    func catchesPlantedViolations(folder: String, line: String) throws {
        let root = try AegisProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        for name in ["Aegis", "Sim"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent("Sources/\(name)"), withIntermediateDirectories: true)
        }
        try "// fine\n\(line)\n".write(to: root.appendingPathComponent("Sources/\(folder)/Planted.swift"), atomically: true, encoding: .utf8)
        let (status, output) = try lint(root)
        #expect(status == 1)
        #expect(output.contains("Sources/\(folder)/Planted.swift:2:"), "\(output)")
    }
}
