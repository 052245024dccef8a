import Aegis

/// One process slot of the simulated cluster: a database node or a client. It opens
/// the doors for the process living in it (clock, timers, network, entropy; the disk is
/// a `SimDisk` that outlives crashes) and keeps what the scheduler needs to drive it:
/// status, incarnation, held events while paused, and time spent in I/O.
final class SimHost: Clock, Timers, Network {
    enum Status: Equatable {
        case running
        case paused
        case down
    }

    enum Role: Equatable {
        case server
        case client
    }

    let node: NodeID
    let index: Int
    let role: Role
    // The simulation owns every world object and outlives them all.
    unowned(unsafe) let simulation: Simulation
    var disk: SimDisk!
    var clock = SimClockModel()
    var status = Status.down
    var process: (any NodeProcess)?
    /// Bumped at every crash; timers of an earlier incarnation never fire.
    private(set) var incarnation: UInt32 = 0
    private(set) var bootGlobalNanoseconds: UInt64 = 0
    /// Events that arrived while paused, delivered in order at resume.
    var heldEvents: [SimEvent] = []
    /// Global time until which the process is still busy with I/O it already issued.
    var busyUntilNanoseconds: UInt64 = 0
    /// Set by a disk call that crashed the process; the scheduler crashes it as soon as
    /// the current handler returns.
    private(set) var crashRequested = false
    private(set) var crashReason = ""
    private var ioNanosecondsThisStep: UInt64 = 0
    private var nextTimer: UInt64 = 1
    private var cancelledTimers: Set<TimerID> = []
    private var entropy: SeededRandom

    init(node: NodeID, index: Int, role: Role, simulation: Simulation) {
        self.node = node
        self.index = index
        self.role = role
        self.simulation = simulation
        entropy = SeededRandom.derive(root: simulation.seed, subsystem: "entropy.\(node.rawValue).0")
    }

    var localNode: NodeID { node }

    /// The global instant the process is at: the scheduler's time plus I/O it has done
    /// in the current step.
    var localNowNanoseconds: UInt64 { simulation.nowNanoseconds + ioNanosecondsThisStep }

    // MARK: Clock

    var monotonicNanoseconds: UInt64 {
        clock.localElapsed(globalNanoseconds: localNowNanoseconds - bootGlobalNanoseconds)
    }

    var wallNanosecondsSinceEpoch: Int64 {
        clock.wallNanoseconds(globalNanoseconds: localNowNanoseconds)
    }

    // MARK: Timers

    func arm(afterNanoseconds delay: UInt64) -> TimerID {
        let timer = TimerID(rawValue: nextTimer)
        nextTimer += 1
        let due = localNowNanoseconds + clock.globalDuration(localNanoseconds: delay)
        simulation.schedule(at: due, .timer(host: index, incarnation: incarnation, timer: timer))
        return timer
    }

    func cancel(_ timer: TimerID) {
        cancelledTimers.insert(timer)
    }

    /// Whether a due timer should fire; forgets it either way.
    func takeTimer(_ timer: TimerID, incarnation firedIncarnation: UInt32) -> Bool {
        guard firedIncarnation == incarnation else { return false }
        return cancelledTimers.remove(timer) == nil
    }

    // MARK: Network

    func send(to target: NodeID, bytes: [UInt8]) {
        precondition(bytes.count <= networkMessageSizeMax, "message of \(bytes.count) bytes exceeds the limit")
        guard status == .running, !crashRequested else { return }
        simulation.network.send(from: self, to: target, bytes: bytes, departureNanoseconds: localNowNanoseconds)
    }

    // MARK: lifecycle, driven by the scheduler

    func environment() -> NodeEnvironment {
        NodeEnvironment(node: node, clock: self, timers: self, disk: disk, network: self, entropy: entropy)
    }

    func chargeIO(nanoseconds: UInt64) {
        ioNanosecondsThisStep += nanoseconds
    }

    /// For tests that drive a disk directly: forgets a crash the disk requested.
    func clearCrashRequest() {
        crashRequested = false
        crashReason = ""
    }

    func requestCrash(reason: String) {
        if !crashRequested {
            crashRequested = true
            crashReason = reason
        }
    }

    /// Runs `body` as one step of this process, accounting its I/O time.
    func step(_ body: () throws(DiskError) -> Void) -> DiskError? {
        ioNanosecondsThisStep = 0
        defer {
            busyUntilNanoseconds = simulation.nowNanoseconds + ioNanosecondsThisStep
            ioNanosecondsThisStep = 0
        }
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    func boot(process makeProcess: (NodeEnvironment) -> any NodeProcess) {
        precondition(status == .down, "only a down process boots")
        status = .running
        crashRequested = false
        crashReason = ""
        bootGlobalNanoseconds = simulation.nowNanoseconds
        busyUntilNanoseconds = simulation.nowNanoseconds
        entropy = SeededRandom.derive(root: simulation.seed, subsystem: "entropy.\(node.rawValue).\(incarnation)")
        process = makeProcess(environment())
    }

    /// Drops all volatile state; the disk applies its crash model.
    func crash() -> String {
        precondition(status != .down, "a down process cannot crash")
        status = .down
        process = nil
        incarnation += 1
        heldEvents.removeAll()
        cancelledTimers.removeAll()
        crashRequested = false
        return disk.crash()
    }
}
