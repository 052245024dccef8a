import Aegis

/// The register workload on Raft key-value nodes (and the SQL bank, `sql-bank`, on the
/// same nodes), and its judges:
/// - raft-safety (online, after every step): `RaftSafetyChecker`;
/// - linearizability (at the end): the history, with every unknown outcome resolved
///   by what the simulator saw committed, through `Linearizability`;
/// - durability (at the end): every acknowledged write took effect at a committed index
///   the surviving replicas applied;
/// - convergence and liveness: after healing, every client finished and every live
///   member of the final configuration applied the same entries to the same state;
/// - conservation (the SQL bank): every sum a client read, and every live replica's
///   final table, holds exactly the money the bank started with, in every account.
final class RegisterWorkload: SimWorkload {
    let scenario: Scenario
    let mutations: MutationSet
    let history = History()
    private let checker: RaftSafetyChecker
    private var repairPending: [NodeID: Bool] = [:]
    private var snapshotsInstalled = 0
    private var readsServed = 0
    private var linearizabilityVerdict: Linearizability.Verdict?
    private var resolvedCommitted = 0
    private var resolvedNotCommitted = 0
    private var electedInLastStep: (index: Int, term: UInt64)?

    static let adminNumber = 0

    init(scenario: Scenario, mutations: [Mutation]) {
        self.scenario = scenario
        self.mutations = MutationSet(mutations)
        checker = RaftSafetyChecker(initialConfiguration: ClusterConfiguration(voters: RegisterWorkload.initialVoters(scenario)))
    }

    static func initialVoters(_ scenario: Scenario) -> [NodeID] {
        (1...scenario.voters).map { NodeID(UInt32($0)) }
    }

    private var checks: [CheckName] { scenario.checks }

    /// The SQL bank's accounts, when this runs the bank.
    var bank: RegisterClient.BankOptions? {
        scenario.workload.kind == .sqlBank ? RegisterClient.BankOptions(accounts: max(2, scenario.workload.keys)) : nil
    }

    // MARK: processes

    func makeServer(_ environment: NodeEnvironment, servers: [NodeID]) -> any NodeProcess {
        var configuration = KVNode.Configuration(initialVoters: RegisterWorkload.initialVoters(scenario))
        let raft = scenario.raft
        configuration.tickNanoseconds = raft.tickNanoseconds
        configuration.raft.electionTicks = raft.electionTicks
        configuration.raft.heartbeatTicks = raft.heartbeatTicks
        configuration.raft.inflightMessagesMax = raft.inflightMax
        configuration.raft.entriesPerMessageMax = raft.entriesPerMessageMax
        configuration.raft.snapshotChunkBytes = raft.snapshotChunkBytes
        configuration.snapshotEveryEntries = raft.snapshotEveryEntries
        configuration.store.segmentBytesMax = raft.segmentBytes
        configuration.mutations = mutations
        return KVNode(environment: environment, configuration: configuration)
    }

    func makeClient(_ environment: NodeEnvironment, number: Int, servers: [NodeID]) -> any NodeProcess {
        let spec = scenario.workload
        if number > spec.clients {
            return AdminClient(environment: environment, configuration: .init(
                servers: servers,
                changesPerMinute: scenario.membership.changesPerMinute,
                transfersPerMinute: scenario.membership.transfersPerMinute,
                votersMin: scenario.membership.votersMin,
                votersMax: min(scenario.membership.votersMax, scenario.servers),
                requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
                livenessStartNanoseconds: scenario.durationNanoseconds))
        }
        let share = spec.operations / spec.clients + (number <= spec.operations % spec.clients ? 1 : 0)
        return RegisterClient(environment: environment, configuration: .init(
            clientNumber: UInt32(number),
            servers: servers,
            operations: share,
            keys: spec.keys,
            readShare: spec.readShare,
            writeShare: spec.writeShare,
            requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
            operationTimeoutNanoseconds: spec.operationTimeoutNanoseconds,
            thinkTimeNanoseconds: UInt64(spec.thinkTimeNanoseconds.lower)...UInt64(spec.thinkTimeNanoseconds.upper),
            livenessStartNanoseconds: scenario.durationNanoseconds,
            retryBackoffNanoseconds: scenario.raft.tickNanoseconds * UInt64(scenario.raft.heartbeatTicks),
            bank: bank), history: history)
    }

    func startNote(_ host: SimHost) -> String? {
        guard let node = host.process as? KVNode, let report = node.recoveryReport else { return nil }
        let coverage = host.simulation
        if report.tornTailBytes > 0 { coverage.coverage.hit(.recoveryFoundTornTail) }
        if report.corruptFrames > 0 || report.snapshotDamaged { coverage.coverage.hit(.recoveryFoundCorruption) }
        if report.twinCopiesUsed > 0 { coverage.coverage.hit(.raftTwinCopyUsed, times: report.twinCopiesUsed) }
        if node.raft.repairFloor != .zero {
            coverage.coverage.hit(.raftLogDamaged)
            repairPending[host.node] = true
        }
        return report.description + " " + node.raft.hardState.description
    }

    // MARK: what happened

    private func clients(_ simulation: Simulation) -> [RegisterClient] {
        simulation.clientHosts.compactMap { $0.process as? RegisterClient }
    }

    private func admin(_ simulation: Simulation) -> AdminClient? {
        simulation.clientHosts.lazy.compactMap { $0.process as? AdminClient }.first
    }

    private func liveMembers(_ simulation: Simulation) -> [(SimHost, KVNode)] {
        let members = checker.committedConfiguration.configuration.members
        return simulation.serverHosts.compactMap { host in
            guard members.contains(host.node), !simulation.isPermanentlyFailed(host) else { return nil }
            return (host.process as? KVNode).map { (host, $0) }
        }
    }

    // MARK: checks

    func checkStep(_ host: SimHost, in simulation: Simulation) -> Violation? {
        guard host.role == .server, let node = host.process as? KVNode, node.raft != nil else { return nil }
        let observations = node.observations
        if observations.installedSnapshot != nil {
            snapshotsInstalled += 1
            simulation.coverage.hit(.raftSnapshotInstalled)
        }
        if !observations.readsServed.isEmpty {
            readsServed += observations.readsServed.count
            simulation.coverage.hit(.raftReadServed, times: observations.readsServed.count)
        }
        if repairPending[host.node] == true, node.raft.repairFloor == .zero {
            repairPending[host.node] = false
            simulation.coverage.hit(.raftLogRepaired)
        }
        let elections = checker.leaderElections
        let configurationIndex = checker.committedConfiguration.index
        let problem = checker.check(node, incarnation: host.incarnation)
        electedInLastStep = nil
        if checker.leaderElections > elections {
            simulation.coverage.hit(.raftLeaderElected)
            electedInLastStep = (host.index, node.raft.term.rawValue)
        }
        if checker.committedConfiguration.index > configurationIndex { simulation.coverage.hit(.raftMembershipChanged) }
        guard checks.contains(.raftSafety), let problem else { return nil }
        return Violation(kind: .safety, check: .raftSafety, message: problem)
    }

    func isComplete(_ simulation: Simulation) -> Bool {
        guard clients(simulation).allSatisfy(\.isFinished) else { return false }
        return convergenceProblem(simulation) == nil
    }

    /// Why the live members do not (yet) hold the same state, or nil when they do.
    private func convergenceProblem(_ simulation: Simulation) -> String? {
        let members = liveMembers(simulation)
        guard let (firstHost, first) = members.first else { return "no live member of the configuration is running" }
        let target = checker.highestCommitted
        for (host, node) in members {
            guard host.status == .running else { return "\(host.node) is not running" }
            if node.stateMachine.appliedIndex < target {
                return "\(host.node) applied \(node.stateMachine.appliedIndex.rawValue) of \(target.rawValue) committed entries"
            }
        }
        let digest = first.stateMachine.digest
        for (host, node) in members.dropFirst() {
            if node.stateMachine.appliedIndex != first.stateMachine.appliedIndex {
                return "\(host.node) applied up to \(node.stateMachine.appliedIndex) and \(firstHost.node) up to \(first.stateMachine.appliedIndex)"
            }
            if node.stateMachine.digest != digest {
                return "\(host.node) and \(firstHost.node) applied the same entries but hold different state"
            }
        }
        return nil
    }

    func finalCheck(_ simulation: Simulation, completed: Bool) -> [Violation] {
        var violations: [Violation] = []
        let operations = bank == nil ? resolvedOperations() : []
        if checks.contains(.durability), let lost = lostAcknowledgedWrite(simulation, completed: completed) {
            violations.append(Violation(kind: .safety, check: .durability, message: lost))
        }
        if checks.contains(.conservation), let bank, let problem = conservationProblem(simulation, bank, completed: completed) {
            violations.append(Violation(kind: .safety, check: .conservation, message: problem))
        }
        if checks.contains(.linearizability), bank == nil {
            let verdict = Linearizability.check(operations)
            linearizabilityVerdict = verdict
            switch verdict {
            case .linearizable:
                break
            case let .notLinearizable(key, subHistory):
                let lines = subHistory.flatMap { operation in
                    operation.sources.map { history.events[$0].jsonLine } + (operation.note.map { ["  " + $0] } ?? [])
                }
                violations.append(Violation(kind: .safety, check: .linearizability,
                    message: "key k\(key) is not linearizable; smallest illegal sub-history:\n    "
                        + lines.joined(separator: "\n    ")))
            case let .unknown(key, explored):
                violations.append(Violation(kind: .safety, check: .linearizability,
                    message: "linearizability of key k\(key) is unknown: the search gave up after \(explored) states (never counted as a pass)"))
            }
        }
        guard !completed else { return violations }
        let unfinished = clients(simulation).filter { !$0.isFinished }.count
        if checks.contains(.liveness), unfinished > 0 {
            violations.append(Violation(kind: .liveness, check: .liveness,
                message: "\(unfinished) client(s) still had operations pending at the liveness bound"))
        }
        if checks.contains(.convergence), let problem = convergenceProblem(simulation) {
            violations.append(Violation(kind: .liveness, check: .convergence, message: problem + " at the liveness bound"))
        }
        if violations.isEmpty, checks.contains(.liveness) || checks.contains(.convergence) {
            violations.append(Violation(kind: .liveness, check: .liveness,
                message: "the cluster did not finish its work within the liveness bound"))
        }
        return violations
    }

    /// A sum read that is not the starting total (money made or lost, or half a
    /// transfer seen), or a live replica whose table ends wrong.
    private func conservationProblem(_ simulation: Simulation, _ bank: RegisterClient.BankOptions, completed: Bool) -> String? {
        for event in history.events where event.type == .ok && event.function == .read {
            if case let .read(sum) = event.value, sum != bank.total {
                return "client \(event.process) read a total of \(sum.map(String.init) ?? "NULL") (\(event.jsonLine)); the bank holds \(bank.total)"
            }
        }
        guard completed else { return nil }
        for (host, node) in liveMembers(simulation) {
            guard case let .sql(results, error) = node.stateMachine.readSQL("SELECT sum(balance), count(*), min(balance) FROM accounts", []),
                  error == nil, let row = results.last?.rows.first else {
                return "\(host.node) cannot sum its accounts at the end"
            }
            guard row == [.integer(bank.total), .integer(Int64(bank.accounts)), row[2]], case let .integer(lowest) = row[2], lowest >= 0 else {
                return "\(host.node) ends with sum, count and lowest balance \(row); the bank holds \(bank.total) in \(bank.accounts) accounts, none negative"
            }
        }
        return nil
    }

    private func lostAcknowledgedWrite(_ simulation: Simulation, completed: Bool) -> String? {
        let appliedIndex = completed ? liveMembers(simulation).first?.1.stateMachine.appliedIndex : nil
        for event in history.events where event.type == .ok && event.function != .read {
            let key = RaftSafetyChecker.RequestKey(clientID: UInt64(event.process), sequence: event.sequence)
            guard let applied = checker.applied(key) else {
                return "write \(event.process)/\(event.sequence) (\(event.jsonLine)) was acknowledged but never took effect"
            }
            if let appliedIndex, applied.index > appliedIndex {
                return "write \(event.process)/\(event.sequence) was acknowledged at \(applied.index) but the replicas end at \(appliedIndex)"
            }
        }
        return nil
    }

    /// The history as the checker needs it: failed operations dropped, unknown ones
    /// resolved by whether their request took effect (and a cas by whether it won).
    func resolvedOperations() -> [(key: Int, operations: [Linearizability.Operation])] {
        var byKey: [[Linearizability.Operation]] = Array(repeating: [], count: scenario.workload.keys)
        var open: [UInt32: (position: Int, event: HistoryEvent)] = [:]
        resolvedCommitted = 0
        resolvedNotCommitted = 0
        func resolve(_ invoke: (position: Int, event: HistoryEvent), completion: Int?) {
            let event = invoke.event
            let key = RaftSafetyChecker.RequestKey(clientID: UInt64(event.process), sequence: event.sequence)
            guard event.function != .read, let applied = checker.applied(key) else {
                if event.function != .read { resolvedNotCommitted += 1 }
                return
            }
            resolvedCommitted += 1
            let sources = [invoke.position] + (completion.map { [$0] } ?? [])
            let note = "(unknown outcome, resolved: took effect at \(applied.index))"
            switch (event.value, applied.result) {
            case let (.write(value), _):
                byKey[event.key].append(.init(kind: .write(value), invoked: invoke.position, returned: nil,
                    sources: sources, note: note))
            case let (.cas(expected, new), .compareAndSet(true, _)):
                byKey[event.key].append(.init(kind: .cas(expected: expected, new: new), invoked: invoke.position,
                    returned: nil, sources: sources, note: note))
            default:
                break
            }
        }
        for (position, event) in history.events.enumerated() {
            switch event.type {
            case .invoke:
                open[event.process] = (position, event)
            case .ok:
                guard let invoke = open.removeValue(forKey: event.process) else { continue }
                let kind: Linearizability.Operation.Kind
                switch event.value {
                case let .read(value): kind = .read(value)
                case let .write(value): kind = .write(value)
                case let .cas(expected, new): kind = .cas(expected: expected, new: new)
                }
                byKey[event.key].append(.init(kind: kind, invoked: invoke.position, returned: position,
                    sources: [invoke.position, position]))
            case .fail:
                open[event.process] = nil
            case .info:
                guard let invoke = open.removeValue(forKey: event.process) else { continue }
                resolve(invoke, completion: position)
            }
        }
        for process in open.keys.sorted() {
            resolve(open[process]!, completion: nil)
        }
        return byKey.enumerated().map { ($0.offset, $0.element) }
    }

    func summary(_ simulation: Simulation) -> String {
        let events = history.events
        let count = { (type: HistoryEvent.EventType) in events.filter { $0.type == type }.count }
        var parts = [
            "ops=\(count(.invoke)) ok=\(count(.ok)) fail=\(count(.fail)) info=\(count(.info))",
            "unknown-resolved committed=\(resolvedCommitted) not=\(resolvedNotCommitted)",
            "elections=\(checker.leaderElections) committed=\(checker.highestCommitted.rawValue)",
            "snapshots-installed=\(snapshotsInstalled) reads=\(readsServed)",
        ]
        if bank != nil {
            let bankClients = clients(simulation)
            parts.append("sums=\(bankClients.reduce(0) { $0 + $1.sumsRead }) transfers-refused=\(bankClients.reduce(0) { $0 + $1.transfersRefused })")
        }
        if let admin = admin(simulation) {
            parts.append("membership-changes=\(admin.changesCommitted) transfers=\(admin.transfersStarted)")
        }
        return parts.joined(separator: " ")
    }

    var historyLines: [String]? { history.jsonLines }

    func newLeader(_ simulation: Simulation) -> (index: Int, term: UInt64)? {
        defer { electedInLastStep = nil }
        return electedInLastStep
    }

    /// The running server that leads in the highest term.
    func leaderIndex(_ simulation: Simulation) -> Int? {
        var best: (index: Int, term: Term)?
        for host in simulation.serverHosts where host.status == .running {
            guard let node = host.process as? KVNode, let raft = node.raft, raft.role == .leader else { continue }
            if best == nil || raft.term > best!.term { best = (host.index, raft.term) }
        }
        return best?.index
    }
}
