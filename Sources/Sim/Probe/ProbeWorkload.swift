import Aegis

/// Runs the probe protocol and checks it:
/// - integrity (safety, online): a server only ever holds items a client wrote, with
///   the value the client wrote;
/// - durability (safety, at the end): every acknowledged item is still held somewhere;
/// - convergence (at the end): every server holds the same items, all acknowledged ones
///   among them;
/// - liveness: every client finished and the servers converged within the bound.
final class ProbeWorkload: SimWorkload {
    private let spec: WorkloadSpec
    private let mutations: [Mutation]
    private let checks: [CheckName]
    private var checkedCount: [Int: Int] = [:]
    private var checkedIncarnation: [Int: UInt32] = [:]

    init(spec: WorkloadSpec, mutations: [Mutation], checks: [CheckName]) {
        self.spec = spec
        self.mutations = mutations
        self.checks = checks
    }

    func makeServer(_ environment: NodeEnvironment, servers: [NodeID]) -> any NodeProcess {
        ProbeServer(environment: environment, configuration: .init(
            peers: servers.filter { $0 != environment.node },
            ackQuorum: spec.ackQuorum,
            gossipIntervalNanoseconds: spec.gossipIntervalNanoseconds,
            retransmitIntervalNanoseconds: max(spec.requestTimeoutNanoseconds / 4, Nanoseconds.perMillisecond),
            mutations: mutations))
    }

    func makeClient(_ environment: NodeEnvironment, number: Int, servers: [NodeID]) -> any NodeProcess {
        let share = spec.operations / spec.clients + (number <= spec.operations % spec.clients ? 1 : 0)
        return ProbeClient(environment: environment, configuration: .init(
            clientNumber: UInt32(number),
            servers: servers,
            operations: share,
            requestTimeoutNanoseconds: spec.requestTimeoutNanoseconds,
            thinkTimeNanoseconds: UInt64(spec.thinkTimeNanoseconds.lower)...UInt64(spec.thinkTimeNanoseconds.upper)))
    }

    func startNote(_ host: SimHost) -> String? {
        guard let server = host.process as? ProbeServer, let note = server.recoveryNote else { return nil }
        if note.tornTailBytes > 0 { host.simulation.coverage.hit(.recoveryFoundTornTail) }
        if note.corruptRecords > 0 { host.simulation.coverage.hit(.recoveryFoundCorruption, times: note.corruptRecords) }
        return note.description
    }

    // MARK: what the clients wrote

    private func clients(_ simulation: Simulation) -> [ProbeClient] {
        simulation.clientHosts.compactMap { $0.process as? ProbeClient }
    }

    private func servers(_ simulation: Simulation) -> [(SimHost, ProbeServer)] {
        simulation.serverHosts.compactMap { host in (host.process as? ProbeServer).map { (host, $0) } }
    }

    /// The value a client wrote under `id`, if any client ever invoked it.
    private func written(_ id: UInt64, in simulation: Simulation) -> UInt64? {
        let number = Int(id >> 32)
        let sequence = Int(id & 0xFFFF_FFFF)
        let clients = clients(simulation)
        guard number >= 1, number <= clients.count else { return nil }
        let operations = clients[number - 1].operations
        guard sequence >= 1, sequence <= operations.count else { return nil }
        return operations[sequence - 1].item.value
    }

    private func acknowledged(_ simulation: Simulation) -> [UInt64] {
        clients(simulation).flatMap { client in
            client.operations.filter { $0.acknowledgedAtNanoseconds != nil }.map(\.item.id)
        }
    }

    // MARK: checks

    func checkStep(_ host: SimHost, in simulation: Simulation) -> Violation? {
        guard checks.contains(.integrity), host.role == .server, let server = host.process as? ProbeServer else {
            return nil
        }
        if checkedIncarnation[host.index] != host.incarnation {
            checkedIncarnation[host.index] = host.incarnation
            checkedCount[host.index] = 0
        }
        let start = checkedCount[host.index] ?? 0
        let applied = server.appliedLog
        guard start < applied.count else { return nil }
        checkedCount[host.index] = applied.count
        for item in applied[start...] {
            guard let value = written(item.id, in: simulation) else {
                return Violation(kind: .safety, check: .integrity,
                    message: "\(host.node) holds item \(item.id.hex16) that no client wrote")
            }
            guard value == item.value else {
                return Violation(kind: .safety, check: .integrity,
                    message: "\(host.node) holds item \(item.id.hex16) with value \(item.value.hex16), but the client wrote \(value.hex16)")
            }
        }
        return nil
    }

    func isComplete(_ simulation: Simulation) -> Bool {
        guard clients(simulation).allSatisfy(\.isFinished) else { return false }
        let servers = servers(simulation)
        guard servers.count == simulation.serverHosts.count, let first = servers.first?.1 else { return false }
        let acknowledged = acknowledged(simulation)
        return servers.allSatisfy { $0.1.items == first.items }
            && acknowledged.allSatisfy { first.items[$0] != nil }
    }

    func finalCheck(_ simulation: Simulation, completed: Bool) -> [Violation] {
        var violations: [Violation] = []
        let servers = servers(simulation)
        if checks.contains(.durability) {
            for id in acknowledged(simulation) where !servers.contains(where: { $0.1.items[id] != nil }) {
                violations.append(Violation(kind: .safety, check: .durability,
                    message: "acknowledged item \(id.hex16) is held by no server"))
                break
            }
        }
        guard !completed else { return violations }
        if checks.contains(.convergence), let (firstHost, first) = servers.first {
            for (host, server) in servers.dropFirst() where server.items != first.items {
                violations.append(Violation(kind: .liveness, check: .convergence,
                    message: "\(host.node) holds \(server.items.count) items and \(firstHost.node) holds \(first.items.count) after the liveness bound"))
                break
            }
        }
        if checks.contains(.liveness) {
            let unfinished = clients(simulation).filter { !$0.isFinished }.count
            if unfinished > 0 {
                violations.append(Violation(kind: .liveness, check: .liveness,
                    message: "\(unfinished) client(s) still had unacknowledged writes at the liveness bound"))
            }
        }
        if violations.isEmpty, checks.contains(.liveness) || checks.contains(.convergence) {
            violations.append(Violation(kind: .liveness, check: .liveness,
                message: "the cluster did not finish its work within the liveness bound"))
        }
        return violations
    }

    func summary(_ simulation: Simulation) -> String {
        let clients = clients(simulation)
        let invoked = clients.reduce(0) { $0 + $1.operations.count }
        let acknowledged = acknowledged(simulation).count
        let retries = clients.reduce(0) { $0 + $1.operations.reduce(0) { $0 + max(0, $1.attempts - 1) } }
        return "writes invoked=\(invoked) acknowledged=\(acknowledged) retries=\(retries)"
    }
}
