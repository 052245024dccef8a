import Aegis
import Testing
@testable import Sim

/// The linearizability checker on histories whose answer is known, including ones
/// built to be illegal: a checker is trusted only once it has caught what it must.
@Suite struct LinearizabilityCheckerTests {
    typealias Operation = Linearizability.Operation

    private func operation(_ kind: Operation.Kind, _ invoked: Int, _ returned: Int?) -> Operation {
        Operation(kind: kind, invoked: invoked, returned: returned, sources: [invoked])
    }

    @Test func sequentialHistoriesPass() {
        let operations = [
            operation(.write(1), 0, 1), operation(.read(1), 2, 3), operation(.cas(expected: 1, new: 2), 4, 5),
            operation(.read(2), 6, 7),
        ]
        #expect(Linearizability.check([(0, operations)]) == .linearizable)
    }

    @Test func aStaleReadAfterACompletedWriteFails() {
        let operations = [operation(.write(1), 0, 1), operation(.write(2), 2, 3), operation(.read(1), 4, 5)]
        guard case let .notLinearizable(key, subHistory) = Linearizability.check([(3, operations)]) else {
            Issue.record("a stale read passed")
            return
        }
        #expect(key == 3)
        #expect(subHistory.count == 2, "the write of 2 and the read of 1 are the whole story")
    }

    @Test func concurrentWritesMayBeOrderedEitherWay() {
        let operations = [
            operation(.write(1), 0, 4), operation(.write(2), 1, 5),
            operation(.read(2), 6, 7), operation(.read(2), 8, 9),
        ]
        #expect(Linearizability.check([(0, operations)]) == .linearizable)
        let flipFlop = operations + [operation(.read(1), 10, 11)]
        #expect(Linearizability.check([(0, flipFlop)]) != .linearizable)
    }

    @Test func aReadOfAValueNobodyWroteFails() {
        #expect(Linearizability.check([(0, [operation(.read(7), 0, 1)])]) != .linearizable)
    }

    @Test func aResolvedUnknownWriteMayTakeEffectLate() {
        // The write's answer never came; it took effect, so it may be placed after reads
        // invoked much later, but only once.
        let operations = [
            operation(.write(1), 0, 1), operation(.write(2), 2, nil),
            operation(.read(1), 3, 4), operation(.read(2), 5, 6),
        ]
        #expect(Linearizability.check([(0, operations)]) == .linearizable)
        let back = operations + [operation(.read(1), 7, 8)]
        #expect(Linearizability.check([(0, back)]) != .linearizable)
    }

    @Test func theWorkBoundAnswersUnknownNeverPass() {
        // Many concurrent writes of distinct values then a read no order can explain.
        var operations: [Operation] = []
        for value in 0..<20 { operations.append(operation(.write(Int64(value)), value, 100 + value)) }
        operations.append(operation(.read(99), 200, 201))
        let verdict = Linearizability.check([(0, operations)], statesMax: 50)
        guard case .unknown = verdict else {
            Issue.record("expected unknown with a tiny bound, got \(verdict)")
            return
        }
    }
}

/// The register workload's history and its resolution of unknown outcomes.
@Suite struct RegisterHistoryTests {
    @Test func aPassingRunResolvesUnknownsAndIsLinearizable() throws {
        let scenario = try scenarioFile("partitions")
        for seed in UInt64(1)...3 {
            let output = Runner.run(RunRequest(scenarioFile: "partitions", scenario: scenario, seed: seed, mutations: [],
                build: "test"), recording: false, keepHistory: true)
            #expect(output.result.outcome == .pass, "seed \(seed): \(output.result.violations)")
            let lines = try #require(output.history)
            #expect(lines.count >= 2 * scenario.workload.operations - 10)
            #expect(lines.allSatisfy { $0.hasPrefix("{\"process\": ") && $0.hasSuffix("}") })
        }
    }

    @Test func aPlantedStaleReadIsFoundWithItsIllegalSubHistory() throws {
        let scenario = try scenarioFile("partitions")
        let caught = (UInt64(1)...40).lazy.compactMap { seed -> Violation? in
            let result = Runner.run(RunRequest(scenarioFile: "partitions", scenario: scenario, seed: seed,
                mutations: [.raftFollowerRead], build: "test"), recording: false).result
            return result.violations.first { $0.check == .linearizability }
        }.first
        let violation = try #require(caught, "no stale read caught in 40 seeds")
        #expect(violation.message.contains("smallest illegal sub-history"))
        #expect(violation.message.contains("\"type\": \"ok\""))
    }
}
