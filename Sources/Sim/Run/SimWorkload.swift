import Aegis

/// A correctness workload: it makes the server and client processes and judges them.
/// Checkers live here, outside the processes they check, and read their state only.
protocol SimWorkload: AnyObject {
    func makeServer(_ environment: NodeEnvironment, servers: [NodeID]) -> any NodeProcess
    func makeClient(_ environment: NodeEnvironment, number: Int, servers: [NodeID]) -> any NodeProcess
    /// A line for the trace after a server starts (what its recovery found), if any.
    func startNote(_ host: SimHost) -> String?
    /// Online safety checks after `host` handled an event.
    func checkStep(_ host: SimHost, in simulation: Simulation) -> Violation?
    /// Whether all work is done (the liveness goal).
    func isComplete(_ simulation: Simulation) -> Bool
    /// End-of-run checks; `completed` says whether the liveness goal was reached.
    func finalCheck(_ simulation: Simulation, completed: Bool) -> [Violation]
    /// One line of figures for the run summary.
    func summary(_ simulation: Simulation) -> String
    /// The client history as JSON lines, for workloads that keep one.
    var historyLines: [String]? { get }
    /// The host index of the server that currently leads, for faults aimed at it.
    func leaderIndex(_ simulation: Simulation) -> Int?
    /// A server that became leader of a new term in the step just checked, once.
    func newLeader(_ simulation: Simulation) -> (index: Int, term: UInt64)?
}

extension SimWorkload {
    var historyLines: [String]? { nil }
    func leaderIndex(_ simulation: Simulation) -> Int? { nil }
    func newLeader(_ simulation: Simulation) -> (index: Int, term: UInt64)? { nil }
}
