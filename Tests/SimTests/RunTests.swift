import Aegis
import Testing
@testable import Sim

@Suite struct DeterminismTests {
    @Test(arguments: ["smoke", "crashes", "disk-faults", "partitions"])
    func sameSeedSameEventsSameHash(name: String) throws {
        let parsed = try shippedScenario(name)
        let first = run(parsed, seed: 11, recording: true)
        let second = run(parsed, seed: 11, recording: true)
        let unrecorded = run(parsed, seed: 11, recording: false)
        #expect(first.trace?.render() == second.trace?.render())
        #expect(first.result.finalHash == unrecorded.result.finalHash)
        #expect(first.result.steps == unrecorded.result.steps)
    }

    @Test func differentSeedsDiffer() throws {
        let parsed = try shippedScenario("smoke")
        let hashes = Set((UInt64(1)...10).map { run(parsed, seed: $0).result.finalHash })
        #expect(hashes.count == 10)
    }
}

@Suite struct ReplayTests {
    @Test func replayReproducesARun() throws {
        let trace = try #require(run(try shippedScenario("crashes"), seed: 4, recording: true).trace)
        let verdict = try Replayer.replay(trace, traceFile: "t.trace", build: "test", window: ReplayRequest())
        #expect(verdict == .reproduced(throughStep: UInt64(trace.events.count - 1), hash: trace.finalHash))
    }

    @Test func replayNamesTheFirstChangedStep() throws {
        var trace = try #require(run(try shippedScenario("smoke"), seed: 4, recording: true).trace)
        let step = 137
        let original = trace.events[step]
        trace.events[step] = original.replacingFirstDigest(with: "0000000000000bad")
        let verdict = try Replayer.replay(trace, traceFile: "t.trace", build: "test", window: ReplayRequest())
        #expect(verdict == .diverged(step: UInt64(step), expected: trace.events[step], got: original))
    }

    @Test func windowLimitsTheComparison() throws {
        var trace = try #require(run(try shippedScenario("smoke"), seed: 4, recording: true).trace)
        trace.events[900] = trace.events[900].replacingFirstDigest(with: "0000000000000bad")
        let early = try Replayer.replay(trace, traceFile: "t.trace", build: "test", window: ReplayRequest(fromStep: 10, untilStep: 899))
        guard case .reproduced(899, _) = early else {
            Issue.record("expected a reproduction through 899, got \(early)")
            return
        }
        let late = try Replayer.replay(trace, traceFile: "t.trace", build: "test", window: ReplayRequest(fromStep: 850))
        guard case .diverged(900?, _, _) = late else {
            Issue.record("expected a divergence at 900, got \(late)")
            return
        }
    }

    @Test func aChangedSeedIsCaughtInTheHeaderOrFirstStep() throws {
        var trace = try #require(run(try shippedScenario("smoke"), seed: 4, recording: true).trace)
        trace.seed = 5
        let verdict = try Replayer.replay(trace, traceFile: "t.trace", build: "test", window: ReplayRequest())
        #expect(verdict != .reproduced(throughStep: UInt64(trace.events.count - 1), hash: trace.finalHash))
    }
}

extension String {
    func replacingFirstDigest(with digest: String) -> String {
        var fields = split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        fields[4] = digest
        return fields.joined(separator: " ")
    }
}

/// The shipped scenarios pass a small sweep here; `aegis sim sweep` runs the large ones.
@Suite struct ShippedScenarioSweepTests {
    @Test(arguments: ScenarioParserTests.shipped)
    func everySeedPasses(name: String) throws {
        let parsed = try shippedScenario(name)
        for seed in UInt64(1)...12 {
            let result = run(parsed, seed: seed).result
            #expect(result.outcome == .pass, "\(name) seed \(seed): \(result.violations)")
        }
    }
}

/// The checkers are trusted only because they catch planted bugs: each planted-bug
/// scenario must fail the way it expects within 100 seeds, and the seed that caught it
/// must pass once the bug is taken out.
@Suite struct PlantedBugTests {
    @Test(arguments: [
        ("planted/skip-sync", Outcome.safetyViolation),
        ("planted/ignore-checksum", .safetyViolation),
        ("planted/no-gossip", .livenessViolation),
    ])
    func caughtAndOnlyBecauseOfTheBug(name: String, expected: Outcome) throws {
        let planted = try shippedScenario(name)
        #expect(!planted.mutations.isEmpty)
        let caught = (UInt64(1)...100).first { run(planted, seed: $0).result.outcome == expected }
        let seed = try #require(caught, "\(name) was not caught in 100 seeds")
        var fixed = planted
        fixed.mutations = []
        #expect(run(fixed, seed: seed).result.outcome == .pass)
    }
}

/// Process faults and recovery really happen in the shipped scenarios.
@Suite struct ProcessFaultTests {
    private func events(_ name: String, seeds: ClosedRange<UInt64>) throws -> [String] {
        let parsed = try shippedScenario(name)
        return seeds.flatMap { run(parsed, seed: $0, recording: true).trace?.events ?? [] }
    }

    @Test func crashesRestartsPausesAndRecoveriesOccur() throws {
        let lines = try events("crashes", seeds: 1...4)
        #expect(lines.contains { $0.contains(" process.crash ") && $0.contains("random") })
        #expect(lines.contains { $0.contains(" process.crash ") && $0.contains("at disk ") || $0.contains("after disk ") })
        #expect(lines.contains { $0.contains(" process.pause ") })
        #expect(lines.contains { $0.contains(" process.resume ") && !$0.contains("held-events=0") })
        #expect(lines.contains { $0.contains(" process.start ") && $0.contains("incarnation=2") })
    }

    @Test func aCrashInsideAWriteLeavesATornTailThatRecoveryCuts() throws {
        let parsed = try scenario("""
            name: torn
            topology: {nodes: 3}
            workload: {clients: 3, operations: 60, ack_quorum: 2}
            duration: 10s
            faults:
              disk: {unsynced_lost: 0, unsynced_torn: 1}
              process: {crash_at_disk_call: 0.05, restart_delay: [10ms, 100ms]}
            """)
        let outputs = (UInt64(1)...3).map { run(parsed, seed: $0, recording: true) }
        let lines = outputs.flatMap { $0.trace?.events ?? [] }
        #expect(lines.contains { $0.contains(" process.crash ") && $0.contains("after disk write") && !$0.contains("torn=0") })
        #expect(lines.contains { $0.contains(" process.recovered ") && $0.contains("torn-tail-cut=") })
        #expect(outputs.allSatisfy { $0.result.outcome == .pass })
    }

    @Test func corruptionIsDetectedAtRecoveryNotServed() throws {
        let parsed = try scenario("""
            name: corrupt
            topology: {nodes: 3}
            workload: {clients: 3, operations: 60, ack_quorum: 2}
            duration: 10s
            faults:
              disk: {corruption: 0.05, misdirect: 0.02, write_error: 0.01}
              process: {crashes_per_minute: 20, restart_delay: [10ms, 100ms]}
            """)
        let outputs = (UInt64(1)...4).map { run(parsed, seed: $0, recording: true) }
        #expect(outputs.allSatisfy { $0.result.outcome == .pass })
        let lines = outputs.flatMap { $0.trace?.events ?? [] }
        #expect(lines.contains { $0.contains(" disk.corrupt ") })
        #expect(lines.contains { $0.contains(" disk.write ") && $0.contains("misdirected-to=") })
        #expect(lines.contains { $0.contains(" process.recovered ") && $0.contains("corrupt-skipped=") })
        #expect(lines.contains { $0.contains(" process.fail ") && $0.contains("I/O error") })
    }

    @Test func aCrashedNodeLosesItsTimersAndMessages() throws {
        let parsed = try scenario("""
            name: down
            topology: {nodes: 3}
            workload: {clients: 2, operations: 20, ack_quorum: 2}
            duration: 5s
            schedule:
              - {at: 1s, crash: 2}
              - {at: 3s, restart: 2}
            """)
        let lines = try #require(run(parsed, seed: 2, recording: true).trace?.events)
        let down = lines.filter { line in
            guard let time = Double(line.split(separator: " ")[1]) else { return false }
            return time > 1.0001 && time < 2.9999 && line.split(separator: " ")[2] == "n2"
        }
        #expect(!down.isEmpty)
        #expect(down.allSatisfy { $0.contains("reason=process-down") })
    }
}

/// Each shipped scenario reaches the rare paths it exists for; a scenario that stopped
/// reaching them would still pass its checks, so this is checked on its own.
@Suite struct ScenarioCoverageTests {
    @Test(arguments: [
        ("partitions", [CoverageProbe.partitionStarted, .messageDroppedByPartition, .linkClogged, .messageReordered]),
        ("crashes", [.processCrashed, .crashAtDiskCall, .sectorLostOnCrash, .sectorTornOnCrash, .heldEventsDelivered]),
        ("disk-faults", [.sectorCorrupted, .writeMisdirected, .readFailed, .writeFailed, .recoveryFoundCorruption, .recoveryFoundTornTail]),
        ("clock-faults", [.clockJumped]),
    ])
    func reachesItsRarePaths(name: String, probes: [CoverageProbe]) throws {
        let parsed = try shippedScenario(name)
        var total = Coverage()
        for seed in UInt64(1)...40 {
            let coverage = run(parsed, seed: seed).result.coverage
            for probe in CoverageProbe.allCases { total.hit(probe, times: coverage[probe]) }
        }
        for probe in probes {
            #expect(total[probe] > 0, "\(name) never reached '\(probe.name)' in 40 seeds")
        }
        #expect(total[.livenessReached] == 40)
    }
}

/// Random faults arrive at their configured rates (Poisson arrivals per minute).
@Suite struct FaultRateTests {
    @Test func processNetworkAndClockFaultsArriveAtTheirRates() throws {
        let parsed = try scenario("""
            name: rates
            topology: {nodes: 3}
            workload: {clients: 1, operations: 0, ack_quorum: 1}
            duration: 10m
            liveness_bound: 5s
            faults:
              network: {partitions_per_minute: 3, partition_duration: [100ms, 500ms], clogs_per_minute: 4}
              process: {crashes_per_minute: 6, restart_delay: [10ms, 100ms], pauses_per_minute: 2, pause_duration: [10ms, 100ms]}
              clock: {jumps_per_minute: 5}
            """)
        var total = Coverage()
        let seeds = UInt64(1)...5
        for seed in seeds {
            let coverage = run(parsed, seed: seed).result.coverage
            for probe in CoverageProbe.allCases { total.hit(probe, times: coverage[probe]) }
        }
        let minutes = 10.0 * Double(seeds.count)
        let expectations: [(CoverageProbe, Double)] = [
            (.processCrashed, 6), (.processPaused, 2), (.partitionStarted, 3), (.linkClogged, 4), (.clockJumped, 5),
        ]
        for (probe, perMinute) in expectations {
            let expected = perMinute * minutes
            // Poisson: the standard deviation is the square root of the mean; allow four.
            #expect(abs(Double(total[probe]) - expected) < 4 * expected.squareRoot(),
                "\(probe.name): \(total[probe]) in \(minutes) minutes, expected about \(expected)")
        }
    }
}
