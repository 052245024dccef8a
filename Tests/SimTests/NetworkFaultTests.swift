import Aegis
import Testing
@testable import Sim

/// Each network fault happens, at the rate it is configured to.
@Suite struct NetworkFaultTests {
    let messages = 20_000

    private func send(_ simulation: Simulation, count: Int, from: Int = 0, to: Int = 1) {
        let source = simulation.hosts[from]
        source.status = .running
        for index in 0..<count {
            simulation.network.send(from: source, to: simulation.hosts[to].node,
                bytes: [UInt8(truncatingIfNeeded: index)], departureNanoseconds: 0)
        }
    }

    @Test(arguments: [0.0, 0.1, 0.3, 0.7])
    func lossDropsItsShare(loss: Double) throws {
        let simulation = try bareSimulation()
        simulation.network.rates.loss = loss
        send(simulation, count: messages)
        let share = Double(simulation.network.statistics.droppedByLoss) / Double(messages)
        #expect(abs(share - loss) < 0.015, "dropped \(share) with loss \(loss)")
    }

    @Test func duplicationAndReorderingHappenAtTheirRates() throws {
        let simulation = try bareSimulation()
        simulation.network.rates.duplicate = 0.2
        simulation.network.rates.reorder = 0.1
        simulation.network.rates.reorderDelayNanoseconds = 50_000_000
        send(simulation, count: messages)
        let statistics = simulation.network.statistics
        #expect(abs(Double(statistics.duplicated) / Double(messages) - 0.2) < 0.015)
        // Each copy draws its own delay, so reordering is counted per copy.
        #expect(abs(Double(statistics.reordered) / Double(messages + statistics.duplicated) - 0.1) < 0.015)
    }

    @Test func latencyFollowsItsDistribution() throws {
        let simulation = try bareSimulation()
        simulation.network.rates = NetworkFaultRates(
            distribution: .exponential, latencyMinNanoseconds: 1_000_000, latencyMeanNanoseconds: 5_000_000,
            latencyMaxNanoseconds: 1_000_000_000)
        let random = SeededRandom(seed: 1)
        var total: UInt64 = 0
        for _ in 0..<messages {
            let delay = simulation.network.drawDelayForTest(random)
            #expect(delay >= 1_000_000 && delay <= 1_000_000_000)
            total += delay
        }
        let mean = Double(total) / Double(messages)
        #expect(abs(mean - 5e6) < 0.2e6, "mean latency \(mean)")
    }

    @Test func partitionsBlockOnlyTheirDirection() throws {
        let simulation = try bareSimulation()
        simulation.network.block(from: 0, to: 1)
        send(simulation, count: 100, from: 0, to: 1)
        #expect(simulation.network.statistics.droppedByPartition == 100)
        send(simulation, count: 100, from: 1, to: 0)
        #expect(simulation.network.statistics.droppedByPartition == 100)
        simulation.network.healPartitions()
        send(simulation, count: 100, from: 0, to: 1)
        #expect(simulation.network.statistics.droppedByPartition == 100)
    }

    @Test func aScheduledPartitionReallyCutsTraffic() throws {
        let partitioned = try scenario("""
            name: split
            topology: {nodes: 3}
            workload: {clients: 2, operations: 20, ack_quorum: 1}
            duration: 4s
            schedule:
              - at: 0s
                isolate: 3
            """)
        let output = run(partitioned, seed: 1, recording: true)
        let lines = output.trace?.events ?? []
        // Before the liveness phase at 4s heals the network.
        let toIsolated = lines.filter { line in
            line.contains(" net.send ") && line.contains("to=n3 ") && Double(line.split(separator: " ")[1])! < 4
        }
        #expect(!toIsolated.isEmpty)
        #expect(toIsolated.allSatisfy { $0.contains("drop=partition") })
        #expect(output.result.outcome == .pass)
    }
}

extension SimNetwork {
    func drawDelayForTest(_ random: SeededRandom) -> UInt64 {
        var copy = rates
        copy.reorder = 0
        rates = copy
        return drawDelay(random)
    }
}
