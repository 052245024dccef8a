import Aegis

/// A client of a sharded cluster running the bank or the list-append workload: one
/// transaction at a time, sent to any node (its gateway), recorded in the history.
///
/// A lost answer or an `unknown` is retried with the same sequence (at another node
/// after a timeout), which the shards apply at most once. An abort that may succeed
/// again (a lock conflict, a stale map, a timeout) is recorded and the same operations
/// run again as a new transaction, up to `attemptsMax` times. During the fault phase
/// the client gives up on a transaction after `operationTimeout` and records it as
/// unknown; in the liveness phase it never gives up.
final class ShardClient: NodeProcess {
    enum Kind {
        /// Transfers between `accounts` accounts (balances start at 0 and may not fall
        /// below `-creditLimit`), and reads of every balance at once.
        case bank(accounts: Int, creditLimit: Int64, transferMax: Int64)
        /// Transactions of up to `operationsMax` appends and reads over `keys` lists.
        case listAppend(keys: Int, operationsMax: Int)
    }

    struct Configuration {
        var clientNumber: UInt32
        var servers: [NodeID]
        var operations: Int
        var kind: Kind
        var readShare: Double
        var requestTimeoutNanoseconds: UInt64
        var operationTimeoutNanoseconds: UInt64
        var thinkTimeNanoseconds: ClosedRange<UInt64>
        var livenessStartNanoseconds: UInt64
        var retryBackoffNanoseconds: UInt64
        var attemptsMax = 8
    }

    struct Current {
        var sequence: UInt64
        var operations: [TransactionOperation]
        var invokedAtNanoseconds: UInt64
        var target: NodeID
        /// Runs of the same operations as new transactions so far (after aborts).
        var runs: Int
        var record: Int
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    let history: ShardHistory
    private(set) var completed = 0
    private(set) var current: Current?
    private var sequence: UInt64 = 0
    private var valueCounter: Int64 = 0
    private var nextServer: Int
    private var thinkTimer: TimerID?
    private var attemptTimer: TimerID?
    /// After a retryable abort: the operations to run again when `retryTimer` fires.
    private var retryTimer: TimerID?
    private var retrying: (operations: [TransactionOperation], runs: Int, invokedAt: UInt64)?
    private var resendPending = false

    init(environment: NodeEnvironment, configuration: Configuration, history: ShardHistory) {
        self.environment = environment
        self.configuration = configuration
        self.history = history
        nextServer = Int(configuration.clientNumber) % configuration.servers.count
    }

    var clientID: UInt64 { UInt64(environment.node.rawValue) }
    var isFinished: Bool { completed >= configuration.operations && current == nil && retrying == nil }
    private var now: UInt64 { environment.clock.monotonicNanoseconds }

    static func key(_ number: Int) -> [UInt8] {
        let digits = String(number)
        return Array(("k" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits).utf8)
    }

    func start() throws(DiskError) {
        scheduleThink()
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if timer == thinkTimer {
                thinkTimer = nil
                invoke()
            } else if timer == retryTimer, let again = retrying {
                retryTimer = nil
                retrying = nil
                // Appended values are unique in the whole history, retries included.
                let operations = again.operations.map { operation -> TransactionOperation in
                    if case let .append(key, _) = operation { return .append(key: key, element: uniqueValue()) }
                    return operation
                }
                begin(operations, runs: again.runs, invokedAt: again.invokedAt)
            } else if timer == attemptTimer {
                attemptTimer = nil
                attemptTimedOut()
            }
        case let .message(_, bytes):
            guard let response = try? ShardClientResponse.decode(bytes), response.clientID == clientID,
                  let running = current, response.sequence == running.sequence
            else { return }
            answered(response.outcome)
        }
    }

    // MARK: choosing

    private func scheduleThink() {
        guard completed < configuration.operations else { return }
        let range = configuration.thinkTimeNanoseconds
        thinkTimer = environment.timers.arm(afterNanoseconds: environment.entropy.uniform(in: range.lowerBound...range.upperBound))
    }

    private func draw() -> Double {
        Double(environment.entropy.uniform(below: 1 << 53)) / Double(1 << 53)
    }

    private func uniqueValue() -> Int64 {
        valueCounter += 1
        return Int64(configuration.clientNumber) * 1_000_000 + valueCounter
    }

    private func chooseOperations() -> [TransactionOperation] {
        switch configuration.kind {
        case let .bank(accounts, creditLimit, transferMax):
            if draw() < configuration.readShare {
                return (0..<accounts).map { .get(key: ShardClient.key($0)) }
            }
            let from = Int(environment.entropy.uniform(below: UInt64(accounts)))
            let to = (from + 1 + Int(environment.entropy.uniform(below: UInt64(accounts - 1)))) % accounts
            let amount = Int64(environment.entropy.uniform(below: UInt64(transferMax))) + 1
            return [.add(key: ShardClient.key(from), delta: -amount, minimum: -creditLimit),
                    .add(key: ShardClient.key(to), delta: amount, minimum: nil)]
        case let .listAppend(keys, operationsMax):
            let count = Int(environment.entropy.uniform(below: UInt64(operationsMax))) + 1
            return (0..<count).map { _ in
                let key = ShardClient.key(Int(environment.entropy.uniform(below: UInt64(keys))))
                return draw() < configuration.readShare ? .get(key: key) : .append(key: key, element: uniqueValue())
            }
        }
    }

    private func invoke() {
        begin(chooseOperations(), runs: 0, invokedAt: now)
    }

    /// Starts a transaction (a new sequence) for `operations`.
    private func begin(_ operations: [TransactionOperation], runs: Int, invokedAt: UInt64) {
        sequence += 1
        let transaction = TransactionID(client: clientID, sequence: sequence)
        let record = history.invoke(transaction, operations, at: now)
        current = Current(sequence: sequence, operations: operations, invokedAtNanoseconds: invokedAt,
            target: configuration.servers[nextServer], runs: runs, record: record)
        send()
    }

    private func send() {
        guard let running = current else { return }
        let request = ShardClientRequest(clientID: clientID, sequence: running.sequence, operation: .transaction(running.operations))
        environment.network.send(to: running.target, bytes: request.encoded)
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
        resendPending = false
    }

    /// Sends the same transaction again, to another node, now or after a pause.
    private func resend(afterNanoseconds delay: UInt64) {
        guard var running = current, !givingUp(running) else { return }
        nextServer = (nextServer + 1) % configuration.servers.count
        running.target = configuration.servers[nextServer]
        current = running
        guard delay > 0 else {
            send()
            return
        }
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = environment.timers.arm(afterNanoseconds: delay)
        resendPending = true
    }

    /// Past its deadline in the fault phase: record unknown and move on.
    private func givingUp(_ running: Current) -> Bool {
        guard now >= running.invokedAtNanoseconds + configuration.operationTimeoutNanoseconds,
              now < configuration.livenessStartNanoseconds else { return false }
        history.complete(running.record, .unknown, at: now)
        finish()
        return true
    }

    private func attemptTimedOut() {
        if resendPending {
            send()
        } else {
            resend(afterNanoseconds: 0)
        }
    }

    // MARK: answers

    private func answered(_ outcome: ShardClientOutcome) {
        guard let running = current else { return }
        switch outcome {
        case let .transaction(.committed(timestamp, reads)):
            history.complete(running.record, .committed(timestamp: timestamp, reads: reads), at: now)
            finish()
        case let .transaction(.aborted(reason)):
            history.complete(running.record, .aborted(reason), at: now)
            let again = reason.isRetryable && running.runs + 1 < configuration.attemptsMax
                && (now < running.invokedAtNanoseconds + configuration.operationTimeoutNanoseconds
                    || now >= configuration.livenessStartNanoseconds)
            guard again else {
                finish()
                return
            }
            current = nil
            attemptTimer.map(environment.timers.cancel)
            attemptTimer = nil
            // A pause drawn up to the backoff, so clients that collided do not collide again.
            let pause = environment.entropy.uniform(in: 1...max(1, configuration.retryBackoffNanoseconds * UInt64(running.runs + 1)))
            retryTimer = environment.timers.arm(afterNanoseconds: pause)
            retrying = (running.operations, running.runs + 1, running.invokedAtNanoseconds)
        case .unknown, .unavailable:
            resend(afterNanoseconds: configuration.retryBackoffNanoseconds)
        case .refused, .entries, .read, .map, .accepted:
            history.complete(running.record, .aborted(.invalid("refused")), at: now)
            finish()
        }
    }

    private func finish() {
        current = nil
        completed += 1
        resendPending = false
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = nil
        retrying = nil
        scheduleThink()
    }
}
