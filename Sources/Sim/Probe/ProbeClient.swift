import Aegis

/// A client of the probe protocol: issues `operations` puts one at a time, each to a
/// random server, retrying on timeout (to the next server) with the same id until one
/// is acknowledged. Its history is what the checkers judge.
final class ProbeClient: NodeProcess {
    struct Configuration {
        var clientNumber: UInt32
        var servers: [NodeID]
        var operations: Int
        var requestTimeoutNanoseconds: UInt64
        var thinkTimeNanoseconds: ClosedRange<UInt64>
    }

    struct Operation {
        var item: ProbeItem
        var invokedAtNanoseconds: UInt64
        var acknowledgedAtNanoseconds: UInt64?
        var attempts: Int
    }

    private let environment: NodeEnvironment
    private let configuration: Configuration
    private(set) var operations: [Operation] = []
    private var target = 0
    private var thinkTimer: TimerID?
    private var timeoutTimer: TimerID?

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
    }

    var isFinished: Bool {
        operations.count == configuration.operations && operations.last?.acknowledgedAtNanoseconds != nil
            || configuration.operations == 0
    }

    var inFlight: Operation? {
        guard let last = operations.last, last.acknowledgedAtNanoseconds == nil else { return nil }
        return last
    }

    func start() throws(DiskError) {
        target = Int(environment.entropy.uniform(below: UInt64(configuration.servers.count)))
        armThink()
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if timer == thinkTimer {
                thinkTimer = nil
                invokeNext()
            } else if timer == timeoutTimer {
                timeoutTimer = nil
                retry()
            }
        case let .message(_, bytes):
            guard case let .putAcknowledged(id)? = try? ProbeMessage.decode(bytes),
                  let last = operations.indices.last, operations[last].item.id == id,
                  operations[last].acknowledgedAtNanoseconds == nil
            else { return }
            operations[last].acknowledgedAtNanoseconds = environment.clock.monotonicNanoseconds
            if let timeoutTimer { environment.timers.cancel(timeoutTimer) }
            timeoutTimer = nil
            armThink()
        }
    }

    private func armThink() {
        guard operations.count < configuration.operations else { return }
        let range = configuration.thinkTimeNanoseconds
        thinkTimer = environment.timers.arm(afterNanoseconds: environment.entropy.uniform(in: range))
    }

    private func invokeNext() {
        let sequence = UInt64(operations.count + 1)
        let item = ProbeItem(id: UInt64(configuration.clientNumber) << 32 | sequence, value: environment.entropy.nextUInt64())
        operations.append(Operation(item: item, invokedAtNanoseconds: environment.clock.monotonicNanoseconds, attempts: 0))
        retry()
    }

    private func retry() {
        guard let last = operations.indices.last else { return }
        operations[last].attempts += 1
        target = (target + 1) % configuration.servers.count
        environment.network.send(to: configuration.servers[target], bytes: ProbeMessage.put(operations[last].item).encode())
        timeoutTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
    }
}
