import Testing
@testable import Sim

/// The list-append checker on small histories whose anomaly is known: each of G0, G1a,
/// G1b, G1c, G-single and G2 is planted and must be named with the cycle or read that
/// shows it, and serializable histories must pass. A checker that has not caught these
/// cannot be trusted on the simulator's histories.
@Suite struct ListAppendCheckerTests {
    typealias Checker = ListAppendChecker
    typealias Op = ListAppendChecker.Operation

    private func txn(_ id: Int, _ outcome: Checker.Outcome = .committed, _ operations: Op...) -> Checker.Transaction {
        Checker.Transaction(id: id, outcome: outcome, operations: operations)
    }

    private func append(_ key: Int, _ value: Int) -> Op { .append(key: key, value: value) }
    private func read(_ key: Int, _ values: [Int]) -> Op { .read(key: key, values: values) }

    /// The anomaly kinds reported, in report order.
    private func kinds(_ report: Checker.Report) -> [Checker.AnomalyKind] { report.anomalies.map(\.kind) }

    /// A reported cycle must be a closed walk: each edge leaves where the last arrived.
    private func expectClosed(_ cycle: [Checker.Dependency], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!cycle.isEmpty, sourceLocation: sourceLocation)
        for (edge, next) in zip(cycle, cycle.dropFirst() + cycle.prefix(1)) {
            #expect(edge.to == next.from, "\(cycle) is not a cycle", sourceLocation: sourceLocation)
        }
    }

    @Test func aSerialHistoryPassesWithEveryEdgeKind() {
        let history = [
            txn(1, .committed, append(0, 1)),
            txn(2, .committed, read(0, [1]), append(0, 2), read(1, [])),
            txn(3, .committed, read(0, [1, 2]), append(1, 5)),
            txn(4, .committed, read(1, [5])),
        ]
        let report = Checker.check(history)
        #expect(report.isSerializable, "\(report.anomalies)")
        #expect(report.wwEdges == 1)
        #expect(report.wrEdges == 3)
        #expect(report.rwEdges == 1, "T2 read x1 empty before T3 appended to it")
        #expect(report.transactionsChecked == 4)
    }

    @Test func g0AWriteCycleIsNamedWithItsEdges() {
        // x0 = [1, 3] puts T1 before T2; x1 = [4, 2] puts T2 before T1.
        let history = [
            txn(1, .committed, append(0, 1), append(1, 2)),
            txn(2, .committed, append(0, 3), append(1, 4)),
            txn(3, .committed, read(0, [1, 3]), read(1, [4, 2])),
        ]
        let report = Checker.check(history)
        #expect(kinds(report) == [.g0])
        let cycle = report.anomalies[0].cycle
        expectClosed(cycle)
        #expect(cycle.allSatisfy { $0.kind == .ww })
        #expect(Set(cycle.map(\.from)) == [1, 2], "cycles name transactions by id")
        #expect(report.anomalies[0].description.hasPrefix("G0: T1 -ww x0-> T2 -ww x1-> T1"))
    }

    @Test func g1aAReadOfAnAbortedAppend() {
        let history = [
            txn(1, .aborted, append(0, 1)),
            txn(2, .committed, read(0, [1])),
        ]
        let report = Checker.check(history)
        #expect(kinds(report) == [.g1a])
        #expect(report.anomalies[0].detail.contains("T1, which aborted"))
    }

    @Test func g1bAReadOfAnIntermediateAppend() {
        let history = [
            txn(1, .committed, append(0, 1), append(0, 2)),
            txn(2, .committed, read(0, [1])),
            txn(3, .committed, read(0, [1, 2])),
        ]
        let report = Checker.check(history)
        #expect(kinds(report).first == .g1b)
        #expect(report.anomalies[0].detail.contains("T2 read x0 = [1]"))
        // The intermediate read also closes a cycle: T1 -wr-> T2 -rw-> T1.
        #expect(kinds(report).dropFirst() == [.gSingle])
    }

    @Test func g1cCircularInformationFlow() {
        // Each transaction read the other's append.
        let history = [
            txn(1, .committed, append(0, 1), read(1, [2])),
            txn(2, .committed, append(1, 2), read(0, [1])),
        ]
        let report = Checker.check(history)
        #expect(kinds(report) == [.g1c])
        let cycle = report.anomalies[0].cycle
        expectClosed(cycle)
        #expect(cycle.contains { $0.kind == .wr })
        #expect(!cycle.contains { $0.kind == .rw })
    }

    @Test func gSingleReadSkew() {
        // T2 sees T1's append to x1 but not its append to x0.
        let history = [
            txn(1, .committed, append(0, 1), append(1, 2)),
            txn(2, .committed, read(0, []), read(1, [2])),
            txn(3, .committed, read(0, [1]), read(1, [2])),
        ]
        let report = Checker.check(history)
        #expect(kinds(report) == [.gSingle])
        let cycle = report.anomalies[0].cycle
        expectClosed(cycle)
        #expect(cycle.filter { $0.kind == .rw }.count == 1)
        #expect(cycle.first?.kind == .rw && cycle.first?.from == 2 && cycle.first?.to == 1)
    }

    @Test func g2WriteSkew() {
        // Each read both lists empty, then appended to a different one.
        let history = [
            txn(1, .committed, read(0, []), read(1, []), append(0, 1)),
            txn(2, .committed, read(0, []), read(1, []), append(1, 2)),
            txn(3, .committed, read(0, [1]), read(1, [2])),
        ]
        let report = Checker.check(history)
        #expect(kinds(report) == [.g2])
        let cycle = report.anomalies[0].cycle
        expectClosed(cycle)
        #expect(cycle.filter { $0.kind == .rw }.count == 2)
    }

    @Test func theSameHistoryAfterARepairPasses() {
        // The write-skew history made serial: T2 saw T1's append.
        let history = [
            txn(1, .committed, read(0, []), read(1, []), append(0, 1)),
            txn(2, .committed, read(0, [1]), read(1, []), append(1, 2)),
            txn(3, .committed, read(0, [1]), read(1, [2])),
        ]
        #expect(Checker.check(history).isSerializable)
    }

    @Test func readsThatAreNotPrefixesOfOneAnotherAreIncompatible() {
        let history = [
            txn(1, .committed, append(0, 1)),
            txn(2, .committed, append(0, 2)),
            txn(3, .committed, read(0, [1, 2])),
            txn(4, .committed, read(0, [2])),
        ]
        #expect(kinds(Checker.check(history)) == [.incompatibleOrder])
    }

    @Test func duplicatesInternalAndGarbageReads() {
        let duplicate = [txn(1, .committed, append(0, 1)), txn(2, .committed, read(0, [1, 1]))]
        #expect(kinds(Checker.check(duplicate)).contains(.duplicate))
        let internalRead = [txn(1, .committed, append(0, 1), read(0, []))]
        #expect(kinds(Checker.check(internalRead)) == [.internalRead])
        let garbage = [txn(1, .committed, read(0, [9]))]
        #expect(kinds(Checker.check(garbage)) == [.garbageRead])
        let reusedValue = [txn(1, .committed, append(0, 1)), txn(2, .committed, append(0, 1))]
        #expect(kinds(Checker.check(reusedValue)) == [.duplicate])
    }

    @Test func anUnknownTransactionTakesPartOnlyOnceARead() {
        // T1's answer never came, but T2 saw its append: it committed, and the cycle
        // through it is real.
        let seen = [
            txn(1, .unknown, append(0, 1), read(1, [2])),
            txn(2, .committed, append(1, 2), read(0, [1])),
            txn(3, .committed, read(1, [2])),
        ]
        let report = Checker.check(seen)
        #expect(report.isSerializable, "an unknown transaction's own reads are not used: \(report.anomalies)")
        #expect(report.wrEdges == 2)
        // Nothing read T1's append: it may not have happened, and it is not an error.
        let unseen = [txn(1, .unknown, append(0, 1)), txn(2, .committed, read(0, []))]
        #expect(Checker.check(unseen).isSerializable)
    }

    @Test func theReportIsTheSameEveryTime() {
        var history: [Checker.Transaction] = []
        // A tangle of write skews over six keys.
        for id in 0..<12 {
            let key = id % 6
            history.append(txn(id, .committed, read(key, []), read((key + 1) % 6, []), append(key, 100 + id)))
        }
        history.append(txn(99, .committed, read(0, [100, 106]), read(1, [101, 107]), read(2, [102, 108])))
        let first = Checker.check(history)
        #expect(!first.isSerializable)
        for _ in 0..<5 { #expect(Checker.check(history) == first) }
    }
}
