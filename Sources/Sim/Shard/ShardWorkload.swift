import Aegis

/// The sharded workloads (`shard-bank`, `list-append`, `shard-sql-bank`) on `ShardNode`s,
/// and their judges:
///
/// - raft-safety (online, after every step): `RaftSafetyChecker`, one per group;
/// - atomicity (online and at the end): no participant was told to commit a
///   transaction it never prepared; after healing, no transaction is left prepared or
///   undecided anywhere, and every group has a leader;
/// - conservation (bank): every read of all the balances that committed sums to zero
///   (the balances start at zero), and so do the final balances, none below the credit
///   limit; the final ranges of the shards cover the key space once; (SQL bank) every
///   sum a client read is the bank's total over every account, and the final table,
///   read with the SQL engine from the union of the shards' final data, holds that
///   total over every account, none below zero;
/// - serializability (list-append): the history, by `ListAppendChecker` (G0, G1a, G1b,
///   G1c, G-single, G2, with the cycle), and commit timestamps agree with every
///   dependency it found;
/// - convergence and liveness: after healing, every client finished and the live
///   replicas of each group applied the same entries to the same state.
final class ShardWorkload: SimWorkload {
    let scenario: Scenario
    let mutations: MutationSet
    let history = ShardHistory()
    private var checkers: [ShardID: RaftSafetyChecker] = [:]
    private var electedInLastStep: (index: Int, term: UInt64)?
    private var serializabilityReport: ListAppendChecker.Report?
    private var settledAtNanoseconds: UInt64?
    private var livenessStartedAt: UInt64 { scenario.durationNanoseconds }
    /// Figures gathered from the nodes as they go.
    private var splits = 0
    private var replicasCreated = 0
    private var replicasDestroyed = 0

    static let creditLimit: Int64 = 100

    init(scenario: Scenario, mutations: [Mutation]) {
        self.scenario = scenario
        self.mutations = MutationSet(mutations)
    }

    var isBank: Bool { scenario.workload.kind == .shardBank }
    var isSQLBank: Bool { scenario.workload.kind == .shardSQLBank }
    var sqlBank: RegisterClient.BankOptions { RegisterClient.BankOptions(accounts: max(2, scenario.workload.keys)) }

    // MARK: processes

    func layout(servers: [NodeID]) -> ShardLayout {
        let keys = scenario.workload.keys
        let shardCount = min(scenario.shards.initial, keys)
        let splitKeys = (1..<max(1, shardCount)).map { ShardClient.key(keys * $0 / shardCount) }
        return ShardLayout(nodes: servers, splitKeys: splitKeys, replicationFactor: scenario.shards.replicationFactor)
    }

    func makeServer(_ environment: NodeEnvironment, servers: [NodeID]) -> any NodeProcess {
        var configuration = ShardNode.Configuration(layout: layout(servers: servers))
        let raft = scenario.raft
        configuration.tickNanoseconds = raft.tickNanoseconds
        configuration.raft.electionTicks = raft.electionTicks
        configuration.raft.heartbeatTicks = raft.heartbeatTicks
        configuration.raft.inflightMessagesMax = raft.inflightMax
        configuration.raft.entriesPerMessageMax = raft.entriesPerMessageMax
        configuration.raft.snapshotChunkBytes = raft.snapshotChunkBytes
        configuration.snapshotEveryEntries = raft.snapshotEveryEntries
        configuration.store.segmentBytesMax = raft.segmentBytes
        configuration.placement.splitKeysMin = scenario.shards.splitKeysMin
        configuration.placement.splitOperationsPerSecondMin = scenario.shards.splitOperationsPerSecondMin
        configuration.placement.rebalance = scenario.shards.rebalance
        configuration.mutations = mutations
        return ShardNode(environment: environment, configuration: configuration)
    }

    func makeClient(_ environment: NodeEnvironment, number: Int, servers: [NodeID]) -> any NodeProcess {
        let spec = scenario.workload
        if number > spec.clients {
            return ShardOperatorClient(environment: environment, configuration: .init(
                servers: servers, keys: spec.keys, splitsPerMinute: scenario.shards.splitsPerMinute,
                movesPerMinute: scenario.shards.movesPerMinute, decommissions: scenario.shards.decommissions,
                requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
                livenessStartNanoseconds: scenario.durationNanoseconds))
        }
        let share = spec.operations / spec.clients + (number <= spec.operations % spec.clients ? 1 : 0)
        if isSQLBank {
            return ShardSQLClient(environment: environment, configuration: .init(
                clientNumber: UInt32(number), servers: servers, operations: share, bank: sqlBank, readShare: spec.readShare,
                requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
                operationTimeoutNanoseconds: spec.operationTimeoutNanoseconds,
                thinkTimeNanoseconds: UInt64(spec.thinkTimeNanoseconds.lower)...UInt64(spec.thinkTimeNanoseconds.upper),
                livenessStartNanoseconds: scenario.durationNanoseconds,
                retryBackoffNanoseconds: scenario.raft.tickNanoseconds * UInt64(scenario.raft.heartbeatTicks), mutations: mutations))
        }
        let kind: ShardClient.Kind = isBank
            ? .bank(accounts: max(2, spec.keys), creditLimit: ShardWorkload.creditLimit, transferMax: 60)
            : .listAppend(keys: spec.keys, operationsMax: scenario.shards.transactionOperationsMax)
        return ShardClient(environment: environment, configuration: .init(
            clientNumber: UInt32(number), servers: servers, operations: share, kind: kind, readShare: spec.readShare,
            requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
            operationTimeoutNanoseconds: spec.operationTimeoutNanoseconds,
            thinkTimeNanoseconds: UInt64(spec.thinkTimeNanoseconds.lower)...UInt64(spec.thinkTimeNanoseconds.upper),
            livenessStartNanoseconds: scenario.durationNanoseconds,
            retryBackoffNanoseconds: scenario.raft.tickNanoseconds * UInt64(scenario.raft.heartbeatTicks)), history: history)
    }

    func startNote(_ host: SimHost) -> String? {
        guard let node = host.process as? ShardNode, let report = node.recoveryReport else { return nil }
        let simulation = host.simulation
        if report.tornTailBytes > 0 { simulation.coverage.hit(.recoveryFoundTornTail) }
        if report.isDamaged { simulation.coverage.hit(.recoveryFoundCorruption) }
        if report.twinCopiesUsed > 0 { simulation.coverage.hit(.raftTwinCopyUsed, times: report.twinCopiesUsed) }
        if report.groupsRepairing > 0 { simulation.coverage.hit(.raftLogDamaged) }
        // A replica that comes back holding a prepared or undecided transaction crashed
        // between prepare and decision: the in-doubt path this workload exists to test.
        for group in node.hostedShards {
            guard let machine = node.dataMachine(of: group) else { continue }
            if !machine.preparedTransactions.isEmpty { simulation.coverage.hit(.shardRecoveredPrepared) }
            if !machine.pendingRecords.isEmpty { simulation.coverage.hit(.shardRecoveredUndecided) }
        }
        return report.description
    }

    // MARK: what happened

    private func clients(_ simulation: Simulation) -> [ShardClient] {
        simulation.clientHosts.compactMap { $0.process as? ShardClient }
    }

    private func sqlClients(_ simulation: Simulation) -> [ShardSQLClient] {
        simulation.clientHosts.compactMap { $0.process as? ShardSQLClient }
    }

    private func runningNodes(_ simulation: Simulation) -> [(SimHost, ShardNode)] {
        simulation.serverHosts.compactMap { host in
            guard host.status == .running, let node = host.process as? ShardNode else { return nil }
            return (host, node)
        }
    }

    /// Every group some running node hosts, in id order.
    private func groups(_ simulation: Simulation) -> [ShardID] {
        Array(Set(runningNodes(simulation).flatMap { $0.1.hostedShards })).sorted()
    }

    // MARK: checks

    func checkStep(_ host: SimHost, in simulation: Simulation) -> Violation? {
        guard host.role == .server, let node = host.process as? ShardNode else { return nil }
        electedInLastStep = nil
        for note in node.stepNotes {
            switch note {
            case .replicaCreatedByMessage: simulation.coverage.hit(.shardReplicaCreatedByMessage)
            case .replicaDestroyed: simulation.coverage.hit(.shardReplicaDestroyed)
            case .replicaRevived: simulation.coverage.hit(.shardReplicaRevived)
            case .placementOrderIssued: simulation.coverage.hit(.shardPlacementOrder)
            case .loadSplitOrdered: simulation.coverage.hit(.shardLoadSplit)
            case .resolveAsked: simulation.coverage.hit(.shardResolveAsked)
            case .staleMapReplanned: simulation.coverage.hit(.shardStaleMapRetried)
            }
        }
        for (group, observed) in node.observations {
            if observed.installedSnapshot != nil { simulation.coverage.hit(.raftSnapshotInstalled) }
            for effect in observed.effects { noteCoverage(effect, simulation) }
            guard let raft = node.raft(of: group) else { continue }
            let checker = checkers[group] ?? RaftSafetyChecker(initialConfiguration: .empty)
            checkers[group] = checker
            let elections = checker.leaderElections
            let problem = checker.check(raft: raft, node: node.node, persisted: observed.persistedEntries,
                appliedEntries: observed.applied.map { ($0, nil) }, incarnation: host.incarnation)
            if checker.leaderElections > elections {
                simulation.coverage.hit(.raftLeaderElected)
                if group.isMeta { electedInLastStep = (host.index, raft.term.rawValue) }
            }
            if observed.applied.contains(where: { $0.kind == .configuration }) { simulation.coverage.hit(.raftMembershipChanged) }
            if scenario.checks.contains(.raftSafety), let problem {
                return Violation(kind: .safety, check: .raftSafety, message: "\(group): \(problem)")
            }
            if scenario.checks.contains(.atomicity), let machine = node.dataMachine(of: group) {
                if machine.unpreparedCommits > 0 {
                    return Violation(kind: .safety, check: .atomicity,
                        message: "\(group) on \(node.node) was told to commit \(machine.unpreparedCommits) transaction(s) it never prepared")
                }
                if machine.commitsBelowPrepare > 0 {
                    return Violation(kind: .safety, check: .atomicity,
                        message: "\(group) on \(node.node) was told to commit \(machine.commitsBelowPrepare) transaction(s) at a timestamp below their prepare")
                }
            }
        }
        return nil
    }

    private func noteCoverage(_ effect: ShardEffect, _ simulation: Simulation) {
        switch effect {
        case let .executed(_, outcome):
            if case .committed = outcome { simulation.coverage.hit(.shardOnePhaseCommit) }
            if case .aborted(.conflict) = outcome { simulation.coverage.hit(.shardLockConflict) }
        case let .decided(_, outcome):
            if case .committed = outcome { simulation.coverage.hit(.shardTwoPhaseCommit) } else { simulation.coverage.hit(.shardTwoPhaseAbort) }
            if case .aborted(.timeout) = outcome { simulation.coverage.hit(.shardDecisionTimeout) }
        case let .voted(_, _, vote):
            if case .no(.conflict) = vote { simulation.coverage.hit(.shardLockConflict) }
        case .split:
            simulation.coverage.hit(.shardSplit)
        default:
            break
        }
    }

    /// Why the cluster has not settled: a transaction in doubt, a group without a
    /// leader, replicas apart, or clients still running. Nil once settled.
    private func unsettled(_ simulation: Simulation) -> String? {
        let sqlUnfinished = sqlClients(simulation).filter { !$0.isFinished }
        if let first = sqlUnfinished.first {
            return "\(sqlUnfinished.count) SQL client(s) still had requests running (client \(first.clientID) completed \(first.completed))"
        }
        let unfinished = clients(simulation).filter { !$0.isFinished }
        if let first = unfinished.first {
            let running = first.current.map { " (client \(first.clientID) runs sequence \($0.sequence): \($0.operations.map(\.description).joined(separator: ", ")))" } ?? ""
            return "\(unfinished.count) client(s) still had transactions running" + running
        }
        let nodes = runningNodes(simulation)
        for group in groups(simulation) {
            let hosting = nodes.filter { $0.1.hostedShards.contains(group) }
            let initialized = hosting.filter { $0.1.stateOf(group) != nil }
            guard let newest = initialized.max(by: { $0.1.stateOf(group)!.appliedIndex < $1.1.stateOf(group)!.appliedIndex }) else {
                continue
            }
            guard let members = newest.1.appliedConfiguration(of: group) else { continue }
            let leaders = hosting.filter { $0.1.raft(of: group)?.role == .leader && members.isVoter($0.0.node) }
            if leaders.isEmpty { return "\(group) has no leader" }
            if let machine = newest.1.dataMachine(of: group) {
                if !machine.preparedTransactions.isEmpty {
                    return "\(group) still holds \(machine.preparedTransactions.count) prepared transaction(s) in doubt, e.g. \(machine.preparedTransactions[0])"
                }
                if !machine.pendingRecords.isEmpty {
                    return "\(group) still coordinates \(machine.pendingRecords.count) undecided transaction(s), e.g. \(machine.pendingRecords[0])"
                }
            }
            let target = newest.1.stateOf(group)!
            for (host, node) in hosting where members.isMember(host.node) && !simulation.isPermanentlyFailed(host) {
                guard let state = node.stateOf(group) else { return "\(host.node) has not received \(group) yet" }
                if state.appliedIndex != target.appliedIndex {
                    return "\(host.node) applied \(group) up to \(state.appliedIndex), \(newest.0.node) up to \(target.appliedIndex)"
                }
                if state.digest != target.digest { return "\(host.node) and \(newest.0.node) hold different \(group) state" }
            }
            let present = hosting.map(\.0.node)
            for member in members.members where !present.contains(member) {
                if let host = simulation.serverHosts.first(where: { $0.node == member }), !simulation.isPermanentlyFailed(host) {
                    return "\(member) is a member of \(group) but is not running it"
                }
            }
        }
        return drainProblem(simulation)
    }

    /// The shard map as the meta group's leader holds it (nil when no running node leads it).
    private func metaLeaderMap(_ simulation: Simulation) -> ShardMap? {
        runningNodes(simulation).first { $0.1.raft(of: .meta)?.role == .leader }?.1.shardMap
    }

    /// A decommissioned node must end with no replica of any group, the meta group's
    /// included: the map the meta leader holds may not list it, and no live member
    /// list may either (the map catches up from reports, so both must agree).
    private func drainProblem(_ simulation: Simulation) -> String? {
        guard let map = metaLeaderMap(simulation) else { return nil }
        for drained in map.decommissioning {
            if let shard = map.allShards.first(where: { $0.replicas.isMember(drained) }) {
                return "\(drained) is decommissioned but the shard map still lists it in \(shard.id)"
            }
            for (host, node) in runningNodes(simulation) where host.node == drained {
                if let group = node.hostedShards.first(where: { node.appliedConfiguration(of: $0)?.isMember(drained) == true }) {
                    return "\(drained) is decommissioned but still a member of \(group)"
                }
            }
        }
        return nil
    }

    func isComplete(_ simulation: Simulation) -> Bool {
        guard unsettled(simulation) == nil else { return false }
        if settledAtNanoseconds == nil {
            settledAtNanoseconds = simulation.nowNanoseconds
            let drained = metaLeaderMap(simulation)?.decommissioning.count ?? 0
            if drained > 0 { simulation.coverage.hit(.shardNodeDrained, times: drained) }
            let sql = sqlClients(simulation).map(\.figures)
            let resent = sql.map(\.resent).reduce(0, +), replayed = sql.map(\.replayed).reduce(0, +)
            if resent > 0 { simulation.coverage.hit(.sqlRequestResent, times: resent) }
            if replayed > 0 { simulation.coverage.hit(.sqlRequestReplayed, times: replayed) }
        }
        return true
    }

    func finalCheck(_ simulation: Simulation, completed: Bool) -> [Violation] {
        var violations: [Violation] = []
        if scenario.checks.contains(.conservation), isBank, let problem = bankProblem(simulation, completed: completed) {
            violations.append(Violation(kind: .safety, check: .conservation, message: problem))
        }
        if scenario.checks.contains(.conservation), isSQLBank, let problem = sqlBankProblem(simulation, completed: completed) {
            violations.append(Violation(kind: .safety, check: .conservation, message: problem))
        }
        if scenario.checks.contains(.serializability), scenario.workload.kind == .listAppend {
            violations += serializabilityViolations()
            if completed, let problem = finalListProblem(simulation) {
                violations.append(Violation(kind: .safety, check: .serializability, message: problem))
            }
        }
        if completed, let problem = coverageProblem(simulation) {
            violations.append(Violation(kind: .safety, check: .atomicity, message: problem))
        }
        guard !completed else { return violations }
        if scenario.checks.contains(.liveness) || scenario.checks.contains(.atomicity) || scenario.checks.contains(.convergence) {
            let reason = unsettled(simulation) ?? "the cluster did not settle"
            violations.append(Violation(kind: .liveness, check: .liveness, message: reason + " at the liveness bound"))
        }
        return violations
    }

    // MARK: the final state

    /// Each data group's state from its most advanced running replica, in range order.
    private func finalShards(_ simulation: Simulation) -> [ShardStateMachine] {
        var best: [ShardID: ShardStateMachine] = [:]
        for (_, node) in runningNodes(simulation) {
            for group in node.hostedShards {
                guard let machine = node.dataMachine(of: group) else { continue }
                if let known = best[group], known.appliedIndex >= machine.appliedIndex { continue }
                best[group] = machine
            }
        }
        return best.keys.sorted().map { best[$0]! }.sorted { $0.range.start.lexicographicallyPrecedes($1.range.start) }
    }

    /// Whether the final shards' ranges cover the key space once (a split lost or doubled shows here).
    private func coverageProblem(_ simulation: Simulation) -> String? {
        // Shards split off and then removed everywhere would still show; keep those a
        // live leader holds.
        let shards = finalShards(simulation).filter { machine in
            runningNodes(simulation).contains { $0.1.raft(of: machine.id)?.role == .leader }
        }
        guard let first = shards.first, first.range.start.isEmpty else { return "no shard holds the start of the key space" }
        for (left, right) in zip(shards, shards.dropFirst()) where left.range.end != right.range.start {
            return "\(left.id) ends at \(left.range.end.map { KVText.show($0) } ?? "+inf") but \(right.id) starts at \(KVText.show(right.range.start))"
        }
        return shards.last!.range.end == nil ? nil : "no shard holds the end of the key space"
    }

    private func bankProblem(_ simulation: Simulation, completed: Bool) -> String? {
        let accounts = max(2, scenario.workload.keys)
        for entry in history.entries {
            guard case let .committed(timestamp, reads)? = entry.outcome, reads.count == accounts else { continue }
            var sum: Int64 = 0
            for read in reads {
                guard let balance = IntegerValue.decode(read.value) else { return "\(entry.transaction) read a balance that is not a number" }
                sum += balance
            }
            if sum != 0 {
                return "\(entry.transaction) (committed at \(timestamp)) read balances summing to \(sum); transfers conserve 0"
            }
        }
        guard completed else { return nil }
        var total: Int64 = 0
        for machine in finalShards(simulation) {
            for (key, version) in machine.scan(from: [], to: nil, limit: Int.max) {
                guard let balance = IntegerValue.decode(version.value) else { return "\(KVText.show(key)) ends holding a non-number" }
                if balance < -ShardWorkload.creditLimit {
                    return "\(KVText.show(key)) ends at \(balance), below the credit limit -\(ShardWorkload.creditLimit)"
                }
                total += balance
            }
        }
        return total == 0 ? nil : "the final balances sum to \(total); transfers conserve 0"
    }

    /// Every committed sum a client read, and the final table (the union of the shards'
    /// final data, read with the SQL engine), hold the bank's total over every account.
    private func sqlBankProblem(_ simulation: Simulation, completed: Bool) -> String? {
        for client in sqlClients(simulation) {
            if let wrong = client.figures.wrongSums.first { return "\(wrong); the bank holds \(sqlBank.total) over \(sqlBank.accounts) accounts" }
        }
        guard completed else { return nil }
        let backend = MemoryBackend()
        var writes: [KeyWrite] = []
        for machine in finalShards(simulation) {
            for (key, version) in machine.scan(from: [], to: nil, limit: Int.max) { writes.append(KeyWrite(key: key, value: version.value)) }
        }
        guard !writes.isEmpty else { return "no shard holds the accounts table at the end" }
        do { try backend.apply(writes, at: 1) } catch { return "the final shard data does not load: \(error)" }
        let session = SQLDatabase(store: MVCCStore(backend: backend)).session()
        let (results, error) = session.executeAll(RegisterClient.BankOptions.sumSQL + "; SELECT count(*) FROM accounts WHERE balance < 0; "
            + "SELECT client, transfers FROM tallies ORDER BY client")
        if let error { return "the final table cannot be read: \(error)" }
        guard results.count == 3 else { return "the final table answered \(results.count) results" }
        let expected: [SQLValue] = [.integer(sqlBank.total), .integer(Int64(sqlBank.accounts))]
        if results[0].rows.first != expected {
            return "the final accounts hold sum and count \(results[0].rows.first ?? []), not \(expected)"
        }
        if results[1].rows.first != [.integer(0)] { return "\(results[1].rows.first ?? []) account(s) end below zero" }
        // Exactly once: each client's tally counts the transfers it was told committed
        // (every transfer is sent again until answered, so none is left unknown).
        var tallies: [Int64: Int64] = [:]
        for row in results[2].rows {
            if case let .integer(client) = row[0], case let .integer(transfers) = row[1] { tallies[client] = transfers }
        }
        for client in sqlClients(simulation).sorted(by: { $0.clientID < $1.clientID }) where client.figures.setups > 0 {
            let tally = tallies[Int64(client.clientID)] ?? 0
            if tally != Int64(client.figures.transfersCommitted) {
                return "client \(client.clientID) was told \(client.figures.transfersCommitted) transfer(s) committed, "
                    + "but its tally counts \(tally) applied (a request applied \(tally > Int64(client.figures.transfersCommitted) ? "more than once" : "without its answer"))"
            }
        }
        return nil
    }

    /// The history as the list-append checker takes it: appends and reads, each
    /// transaction committed, aborted or unknown.
    private func listAppendHistory() -> [ListAppendChecker.Transaction] {
        history.entries.enumerated().map { position, entry in
            var reads: [Int: [Int]?] = [:]
            let outcome: ListAppendChecker.Outcome
            switch entry.outcome {
            case let .committed(_, observed)?:
                outcome = .committed
                for read in observed { reads[read.operation] = IntegerList.decode(read.value).map { $0.map { Int($0) } } }
            case .aborted?: outcome = .aborted
            case .unknown?, nil: outcome = .unknown
            }
            let operations = entry.operations.enumerated().compactMap { index, operation -> ListAppendChecker.Operation? in
                switch operation {
                case let .append(key, element): return .append(key: ShardWorkload.keyNumber(key), value: Int(element))
                case let .get(key): return .read(key: ShardWorkload.keyNumber(key), values: reads[index] ?? nil)
                default: return nil
                }
            }
            return ListAppendChecker.Transaction(id: position, outcome: outcome, operations: operations)
        }
    }

    static func keyNumber(_ key: [UInt8]) -> Int {
        Int(String(decoding: key.dropFirst(), as: UTF8.self)) ?? -1
    }

    private func serializabilityViolations() -> [Violation] {
        let transactions = listAppendHistory()
        let report = ListAppendChecker.check(transactions)
        serializabilityReport = report
        var violations: [Violation] = []
        if !report.isSerializable {
            let lines = report.anomalies.prefix(6).map { anomaly in "    " + describe(anomaly) }
            violations.append(Violation(kind: .safety, check: .serializability,
                message: "the list-append history is not serializable: \(report.anomalies.count) anomal\(report.anomalies.count == 1 ? "y" : "ies")\n" + lines.joined(separator: "\n")))
        }
        if let problem = timestampOrderProblem(report) {
            violations.append(Violation(kind: .safety, check: .serializability, message: problem))
        }
        return violations
    }

    /// The anomaly with the transactions named by their ids (client.sequence).
    private func describe(_ anomaly: ListAppendChecker.Anomaly) -> String {
        guard !anomaly.cycle.isEmpty else { return "\(anomaly.kind.rawValue): \(anomaly.detail)" }
        func name(_ position: Int) -> String {
            position < history.entries.count ? history.entries[position].transaction.description : "T\(position)"
        }
        let path = anomaly.cycle.map { "\(name($0.from)) -\($0.kind.rawValue) x\($0.key)->" }.joined(separator: " ")
        return "\(anomaly.kind.rawValue): \(path) \(name(anomaly.cycle[0].from))"
    }

    /// Every dependency the checker found must run forward in commit-timestamp order: the
    /// order transactions take effect in is their timestamps' order.
    private func timestampOrderProblem(_ report: ListAppendChecker.Report) -> String? {
        for edge in report.edges {
            guard case let .committed(from, _)? = history.entries[edge.from].outcome,
                  case let .committed(to, _)? = history.entries[edge.to].outcome else { continue }
            guard from < to else {
                return "\(history.entries[edge.from].transaction) (at \(from)) must come before \(history.entries[edge.to].transaction) (at \(to)) by a \(edge.kind.rawValue) dependency on x\(edge.key), but its commit timestamp is not earlier"
            }
        }
        return nil
    }

    /// Every committed append is in its list at the end, and every value there was
    /// appended by a transaction that did not abort.
    private func finalListProblem(_ simulation: Simulation) -> String? {
        var lists: [Int: [Int64]] = [:]
        for machine in finalShards(simulation) {
            for (key, version) in machine.scan(from: [], to: nil, limit: Int.max) {
                lists[ShardWorkload.keyNumber(key)] = IntegerList.decode(version.value) ?? []
            }
        }
        var appendedBy: [Int: [Int64: ShardHistory.Outcome?]] = [:]
        for entry in history.entries {
            for operation in entry.operations {
                guard case let .append(key, element) = operation else { continue }
                appendedBy[ShardWorkload.keyNumber(key), default: [:]][element] = entry.outcome
            }
        }
        for key in appendedBy.keys.sorted() {
            let final = Set(lists[key] ?? [])
            for element in appendedBy[key]!.keys.sorted() {
                let outcome = appendedBy[key]![element]!
                if case .committed? = outcome, !final.contains(element) {
                    return "x\(key) ends without \(element), appended by a committed transaction"
                }
                if case .aborted? = outcome, final.contains(element) {
                    return "x\(key) ends holding \(element), appended by an aborted transaction"
                }
            }
        }
        return nil
    }

    func summary(_ simulation: Simulation) -> String {
        var nodes = ShardNode.Counters()
        for (_, node) in runningNodes(simulation) {
            let counters = node.counters
            nodes.onePhaseCommits += counters.onePhaseCommits
            nodes.twoPhaseCommits += counters.twoPhaseCommits
            nodes.twoPhaseAborts += counters.twoPhaseAborts
            nodes.splitsApplied += counters.splitsApplied
            nodes.ordersIssued += counters.ordersIssued
            nodes.resolvesSent += counters.resolvesSent
        }
        var logSyncs = 0
        for (_, node) in runningNodes(simulation) {
            nodes.raftMessagesSent += node.counters.raftMessagesSent
            nodes.raftBatchesSent += node.counters.raftBatchesSent
            logSyncs += node.logStoreSyncs
        }
        let inFaultPhase = history.entries.filter { entry in
            guard case .committed? = entry.outcome, let completed = entry.completedAtNanoseconds else { return false }
            return completed < livenessStartedAt
        }.count
        var parts = [
            "txns=\(history.entries.count) committed=\(history.committed) aborted=\(history.aborted) unknown=\(history.unknown)",
            "committed-in-fault-phase=\(inFaultPhase)",
            "groups=\(groups(simulation).count)",
            "one-phase=\(nodes.onePhaseCommits) two-phase=\(nodes.twoPhaseCommits)",
            // Since each running node's last start: what the Raft groups cost.
            "raft-messages=\(nodes.raftMessagesSent) raft-batches=\(nodes.raftBatchesSent) log-syncs=\(logSyncs)",
        ]
        if let settled = settledAtNanoseconds, settled >= livenessStartedAt {
            parts.append("settled-after=\(formatDuration(settled - livenessStartedAt))")
        }
        if let report = serializabilityReport {
            parts.append("edges ww=\(report.wwEdges) wr=\(report.wrEdges) rw=\(report.rwEdges)")
        }
        let sql = sqlClients(simulation).map(\.figures)
        if !sql.isEmpty {
            let sum = { (field: KeyPath<ShardSQLClient.Figures, Int>) in sql.map { $0[keyPath: field] }.reduce(0, +) }
            parts[0] = "transfers=\(sum(\.transfersCommitted)) refused=\(sum(\.transfersRefused)) sums=\(sum(\.sumsRead)) "
                + "failed=\(sum(\.failed)) unknown=\(sum(\.unknown)) resent=\(sum(\.resent)) replayed=\(sum(\.replayed)) sql-runs=\(sum(\.runs)) reads=\(sum(\.reads)) commits=\(sum(\.commits))"
        }
        if let operatorClient = simulation.clientHosts.lazy.compactMap({ $0.process as? ShardOperatorClient }).first {
            parts.append("operator-orders=\(operatorClient.ordersAccepted)")
            if !operatorClient.decommissioned.isEmpty {
                parts.append("decommissioned=\(operatorClient.decommissioned.map(\.description).joined(separator: ","))")
            }
        }
        return parts.joined(separator: " ")
    }

    var historyLines: [String]? { history.jsonLines }

    func newLeader(_ simulation: Simulation) -> (index: Int, term: UInt64)? {
        defer { electedInLastStep = nil }
        return electedInLastStep
    }

    /// The running server that leads the most groups.
    func leaderIndex(_ simulation: Simulation) -> Int? {
        var best: (index: Int, groups: Int)?
        for (host, node) in runningNodes(simulation) {
            let led = node.hostedShards.filter { node.raft(of: $0)?.role == .leader }.count
            if led > 0, best == nil || led > best!.groups { best = (host.index, led) }
        }
        return best?.index
    }
}
