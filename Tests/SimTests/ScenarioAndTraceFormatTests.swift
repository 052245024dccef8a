import Aegis
import Testing
@testable import Sim

@Suite struct ScenarioParserTests {
    static let shipped = ["smoke", "partitions", "crashes", "disk-faults", "clock-faults", "everything"]

    @Test(arguments: shipped)
    func shippedScenariosParse(name: String) throws {
        let parsed = try shippedScenario(name)
        #expect(parsed.name == name)
        #expect(parsed.expect == .pass)
        #expect(!parsed.checks.isEmpty)
    }

    @Test func readsEveryKindOfValue() throws {
        let parsed = try scenario("""
            name: full
            topology: {nodes: 5}
            workload: {clients: 2, operations: 10, ack_quorum: 3, request_timeout: 1s, think_time: [1ms, 2ms]}
            duration: 4500ms
            liveness_bound: 1m
            faults:
              swarm: true
              network: {loss: [0.1, 0.2], latency: {distribution: uniform, min: 1ms, max: 9ms}}
              disk: {sector_size: 4096, unsynced_torn: 0.25}
              process: {crashes_per_minute: 3}
              clock: {skew: [-2s, 1s], drift_ppm: [-50, 50]}
            schedule:
              - {at: 1s, partition: [[1, 2], [3, 4, 5]]}
              - {at: 2s, clock_jump: {node: 2, by: -3s}}
              - {at: 3s, partition_one_way: {from: [1], to: [2]}}
            checks: [integrity, liveness]
            expect: liveness_violation
            mutations: [probe-no-gossip]
            """)
        #expect(parsed.servers == 5)
        #expect(parsed.durationNanoseconds == 4_500_000_000)
        #expect(parsed.livenessBoundNanoseconds == 60_000_000_000)
        #expect(parsed.faults.network.loss == DrawRange(0.1, 0.2))
        #expect(parsed.faults.network.latencyDistribution == .uniform)
        #expect(parsed.faults.disk.sectorSize == 4096)
        #expect(parsed.faults.clock.skewNanoseconds == DrawRange(-2e9, 1e9))
        #expect(parsed.schedule.map(\.action) == [
            .partition(groups: [[1, 2], [3, 4, 5]]),
            .clockJump(node: 2, byNanoseconds: -3_000_000_000),
            .partitionOneWay(from: [1], to: [2]),
        ])
        #expect(parsed.checks == [.integrity, .liveness])
        #expect(parsed.expect == .livenessViolation)
        #expect(parsed.mutations == ["probe-no-gossip"])
    }

    /// Each malformed input names the file, the line and the field, in one line.
    @Test(arguments: [
        ("name: x\nfaults:\n  network:\n    loss: 1.5\n", "bad.yaml:4: field 'faults.network.loss': must be a probability between 0 and 1, not 1.5"),
        ("name: x\nduration: 5 seconds\n", "bad.yaml:2: field 'duration': must be a duration with a unit (ns, us, ms, s, m), such as 5ms or 2s; got '5 seconds'"),
        ("name: x\ntopology:\n  nodez: 3\n", "bad.yaml:3: field 'topology.nodez': is not a known field; known fields here are nodes, voters"),
        ("description: no name\n", "bad.yaml:1: field 'name': is missing; every scenario needs a name"),
        ("name: x\nschedule:\n  - at: 1s\n    crash: 17\n", "bad.yaml:4: field 'schedule[0].crash': must be between 1 and 16, not 17"),
        ("name: x\nschedule:\n  - at: 1s\n    crash: 4\n", "bad.yaml:4: field 'schedule[0].crash': names node 4 but topology has 3 nodes"),
        ("name: x\nduration: 5s\nschedule:\n  - at: 6s\n    crash: 1\n", "bad.yaml:5: field 'schedule[0].crash': happens at or after the end of the fault phase (duration); schedule it earlier or lengthen duration"),
        ("name: x\nliveness_bound: 0s\n", "bad.yaml:1: field 'liveness_bound': must be longer than zero; it is the time the cluster gets to finish after faults heal"),
        ("name: x\nexpect: maybe\n", "bad.yaml:2: field 'expect': must be one of pass, safety_violation, liveness_violation"),
        ("name: x\nworkload: {ack_quorum: 5}\n", "bad.yaml:1: field 'workload.ack_quorum': must not exceed the number of nodes (3)"),
        ("name: x\nfaults: [1, 2]\n", "bad.yaml:2: field 'faults': must be a mapping of keys to values"),
        ("name: x\n  bad: indentation\n", "bad.yaml:2: is not valid YAML: mapping values are not allowed in this context at column 6"),
        ("", "bad.yaml:1: the scenario is empty; start from Scenarios/smoke.yaml"),
    ])
    func malformedInputIsOneClearLine(text: String, message: String) {
        do {
            _ = try ScenarioParser.parse(text: text, file: "bad.yaml")
            Issue.record("accepted malformed input")
        } catch {
            #expect(error.description == message)
            #expect(!error.description.contains("\n"))
        }
    }
}

@Suite struct TraceFileTests {
    @Test func rendersAndParsesBack() throws {
        let output = run(try shippedScenario("smoke"), seed: 3, recording: true)
        let trace = try #require(output.trace)
        let parsed = try TraceFile.parse(text: trace.render(), file: "t.trace")
        #expect(parsed == trace)
        #expect(parsed.events.count == Int(parsed.stepCount))
        #expect(parsed.scenarioText == trace.scenarioText)
    }

    @Test(arguments: [
        ("aegis-trace 2\n", "t.trace:1: field 'aegis-trace': format version '2' is not supported; this build reads version 1"),
        ("aegis-trace 1\nscenario-file x\nseed forty\n", "t.trace:3: field 'seed': 'forty' is not a whole number"),
        ("aegis-trace 1\nscenario-file x\nseed 1\nbuild b\nmutations none\nscenario-begin\nname: x\n",
         "t.trace:7: field 'scenario': embedded scenario lines must start with '| '"),
        ("aegis-trace 1\nscenario-file x\nseed 1\nbuild b\nmutations none\nscenario-begin\n| name: x\nscenario-end\nevents\n0 0.0 - run.start 00\n",
         "t.trace:10: field 'end': is missing; the trace ends early (was it cut short?)"),
        ("hello\n", "t.trace:1: field 'aegis-trace': expected a line starting with 'aegis-trace', found 'hello'"),
    ])
    func malformedTracesAreOneClearLine(text: String, message: String) {
        do {
            _ = try TraceFile.parse(text: text, file: "t.trace")
            Issue.record("accepted a malformed trace")
        } catch {
            #expect(error.description == message)
        }
    }
}
