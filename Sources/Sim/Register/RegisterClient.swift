import Aegis

/// A client of the replicated KV store running the register workload: one operation at
/// a time — read, write or compare-and-set on one of a few keys — each recorded in the
/// history as invoke then ok / fail / info.
///
/// Retries keep the request's sequence number, so the node's session applies a write
/// at most once however often it is sent. A redirect goes to the named leader; a
/// timeout or an `unknown` answer tries again (another node after a timeout). During
/// the fault phase the client gives up on an operation after `operationTimeout` and
/// records it as info (unknown); in the liveness phase it never gives up.
final class RegisterClient: NodeProcess {
    struct Configuration {
        var clientNumber: UInt32
        var servers: [NodeID]
        var operations: Int
        var keys: Int
        var readShare: Double
        var writeShare: Double
        var requestTimeoutNanoseconds: UInt64
        var operationTimeoutNanoseconds: UInt64
        var thinkTimeNanoseconds: ClosedRange<UInt64>
        /// When the liveness phase starts, on this client's clock.
        var livenessStartNanoseconds: UInt64
        var retryBackoffNanoseconds: UInt64
        /// Set for the SQL bank (`sql-bank`): transfers and sums instead of registers.
        var bank: BankOptions?
    }

    /// The SQL bank: `accounts` accounts of `initialBalance`, transfers of 1 to
    /// `transferMax` between two of them.
    struct BankOptions {
        var accounts: Int
        var initialBalance: Int64 = 100
        var transferMax: Int64 = 60

        var total: Int64 { Int64(accounts) * initialBalance }

        /// Creates the table and its accounts once: a retry or a second client's
        /// setup changes nothing.
        var setupSQL: String {
            "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0)); "
                + "INSERT INTO accounts VALUES " + (1...accounts).map { "(\($0), \(initialBalance))" }.joined(separator: ", ")
                + " ON CONFLICT (id) DO NOTHING"
        }

        /// Credit first, then debit: the debit's CHECK fails when the payer is short, and
        /// the whole transaction must then be rolled back.
        static let transferSQL = "BEGIN; UPDATE accounts SET balance = balance + $3 WHERE id = $2; "
            + "UPDATE accounts SET balance = balance - $3 WHERE id = $1; COMMIT"
        static let sumSQL = "SELECT sum(balance), count(*) FROM accounts"
    }

    struct Operation {
        var sequence: UInt64
        var function: HistoryEvent.Function
        var key: Int
        var value: HistoryEvent.Value
        var invokedAtNanoseconds: UInt64
        var attempts = 0
        var target: NodeID
        /// The SQL bank's request, when there is one.
        var sql: KVOperation?
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    let history: History
    private(set) var completed = 0
    private(set) var unknownOutcomes = 0
    private(set) var current: Operation?
    private var sequence: UInt64 = 0
    private var valueCounter: Int64 = 0
    private var nextServer = 0
    private var leaderGuess: NodeID?
    /// Values this client saw or wrote per key, to pick plausible cas expectations.
    private var lastKnown: [Int64?]
    private var thinkTimer: TimerID?
    private var attemptTimer: TimerID?
    /// The SQL bank: whether this client's setup took effect.
    private(set) var bankReady = false
    /// The SQL bank: transfers refused (a payer short of money) and sums read.
    private(set) var transfersRefused = 0
    private(set) var sumsRead = 0

    init(environment: NodeEnvironment, configuration: Configuration, history: History) {
        self.environment = environment
        self.configuration = configuration
        self.history = history
        lastKnown = Array(repeating: nil, count: configuration.keys)
        nextServer = Int(configuration.clientNumber) % configuration.servers.count
    }

    var clientID: UInt64 { UInt64(environment.node.rawValue) }
    var isFinished: Bool { completed >= configuration.operations && current == nil }
    private var now: UInt64 { environment.clock.monotonicNanoseconds }

    func start() throws(DiskError) {
        scheduleThink()
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if timer == thinkTimer {
                thinkTimer = nil
                invoke()
            } else if timer == attemptTimer {
                attemptTimer = nil
                attemptTimedOut()
            }
        case let .message(_, bytes):
            guard let response = try? ClientResponse.decode(bytes), response.clientID == clientID,
                  let operation = current, response.sequence == operation.sequence
            else { return }
            answered(response.outcome)
        }
    }

    // MARK: choosing and sending

    private func scheduleThink() {
        guard completed < configuration.operations else { return }
        let range = configuration.thinkTimeNanoseconds
        thinkTimer = environment.timers.arm(afterNanoseconds: environment.entropy.uniform(in: range.lowerBound...range.upperBound))
    }

    private func uniqueValue() -> Int64 {
        valueCounter += 1
        return Int64(configuration.clientNumber) * 1_000_000 + valueCounter
    }

    private func invoke() {
        if let bank = configuration.bank {
            invokeBank(bank)
            return
        }
        sequence += 1
        let key = Int(environment.entropy.uniform(below: UInt64(configuration.keys)))
        let draw = Double(environment.entropy.uniform(below: 1 << 53)) / Double(1 << 53)
        let function: HistoryEvent.Function
        let value: HistoryEvent.Value
        if draw < configuration.readShare {
            function = .read
            value = .read(nil)
        } else if draw < configuration.readShare + configuration.writeShare {
            function = .write
            value = .write(uniqueValue())
        } else {
            function = .cas
            // Expect what this client last saw, or a small guess, so some succeed.
            let expected = lastKnown[key] ?? Int64(environment.entropy.uniform(below: 3))
            value = .cas(expected: expected, new: uniqueValue())
        }
        let target = leaderGuess ?? configuration.servers[nextServer]
        current = Operation(sequence: sequence, function: function, key: key, value: value,
            invokedAtNanoseconds: now, target: target)
        record(.invoke, value)
        send()
    }

    private func invokeBank(_ bank: BankOptions) {
        sequence += 1
        let function: HistoryEvent.Function
        let key: Int
        let value: HistoryEvent.Value
        let operation: KVOperation
        let draw = Double(environment.entropy.uniform(below: 1 << 53)) / Double(1 << 53)
        if !bankReady {
            (function, key, value) = (.write, 0, .write(0))
            operation = .sql(text: bank.setupSQL, parameters: [], readOnly: false)
        } else if draw < configuration.readShare {
            (function, key, value) = (.read, 0, .read(nil))
            operation = .sql(text: BankOptions.sumSQL, parameters: [], readOnly: true)
        } else {
            let from = Int(environment.entropy.uniform(below: UInt64(bank.accounts))) + 1
            let to = (from + Int(environment.entropy.uniform(below: UInt64(bank.accounts - 1)))) % bank.accounts + 1
            let amount = Int64(environment.entropy.uniform(below: UInt64(bank.transferMax))) + 1
            (function, key, value) = (.write, from, .write(amount))
            operation = .sql(text: BankOptions.transferSQL, parameters: [.integer(Int64(from)), .integer(Int64(to)), .integer(amount)], readOnly: false)
        }
        let target = leaderGuess ?? configuration.servers[nextServer]
        current = Operation(sequence: sequence, function: function, key: key, value: value,
            invokedAtNanoseconds: now, target: target, sql: operation)
        record(.invoke, value)
        send()
    }

    private func request(for operation: Operation) -> ClientRequest {
        if let sql = operation.sql { return ClientRequest(clientID: clientID, sequence: operation.sequence, operation: sql) }
        let key = Array("k\(operation.key)".utf8)
        let kvOperation: KVOperation
        switch operation.value {
        case .read:
            kvOperation = .get(key: key)
        case let .write(value):
            kvOperation = .put(key: key, value: Array(String(value).utf8))
        case let .cas(expected, new):
            kvOperation = .compareAndSet(key: key, expected: Array(String(expected).utf8), new: Array(String(new).utf8))
        }
        return ClientRequest(clientID: clientID, sequence: operation.sequence, operation: kvOperation)
    }

    private func send() {
        guard var operation = current else { return }
        operation.attempts += 1
        current = operation
        environment.network.send(to: operation.target, bytes: request(for: operation).encoded)
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
    }

    private func retry(at target: NodeID?, afterNanoseconds delay: UInt64) {
        guard var operation = current else { return }
        if givingUp(operation) { return }
        if let target {
            operation.target = target
        } else {
            nextServer = (nextServer + 1) % configuration.servers.count
            operation.target = configuration.servers[nextServer]
        }
        current = operation
        if delay == 0 {
            send()
        } else {
            attemptTimer.map(environment.timers.cancel)
            // The attempt timer doubles as the backoff: when it fires, the next try goes out.
            attemptTimer = environment.timers.arm(afterNanoseconds: delay)
            pendingResend = true
        }
    }

    private var pendingResend = false

    /// Past its deadline in the fault phase: record unknown and move on.
    private func givingUp(_ operation: Operation) -> Bool {
        let deadline = operation.invokedAtNanoseconds + configuration.operationTimeoutNanoseconds
        guard now >= deadline, now < configuration.livenessStartNanoseconds else { return false }
        unknownOutcomes += 1
        finish(.info, operation.value)
        return true
    }

    private func attemptTimedOut() {
        if pendingResend {
            pendingResend = false
            send()
            return
        }
        leaderGuess = nil
        retry(at: nil, afterNanoseconds: 0)
    }

    // MARK: answers

    private func answered(_ outcome: ClientResponse.Outcome) {
        guard let operation = current else { return }
        switch outcome {
        case let .ok(result):
            completeOK(operation, result)
        case let .redirect(leader):
            leaderGuess = leader
            retry(at: leader, afterNanoseconds: leader == nil ? configuration.retryBackoffNanoseconds : 0)
        case .unavailable:
            retry(at: operation.target, afterNanoseconds: configuration.retryBackoffNanoseconds)
        case .unknown:
            leaderGuess = nil
            retry(at: nil, afterNanoseconds: configuration.retryBackoffNanoseconds)
        }
    }

    private func completeOK(_ operation: Operation, _ result: KVResult) {
        leaderGuess = operation.target
        switch (operation.value, result) {
        case let (.read, .value(bytes)):
            let read = bytes.flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
            lastKnown[operation.key] = read
            finish(.ok, .read(read))
        case let (.write(value), .written):
            lastKnown[operation.key] = value
            finish(.ok, operation.value)
        case let (.cas(_, new), .compareAndSet(succeeded, current)):
            if succeeded {
                lastKnown[operation.key] = new
                finish(.ok, operation.value)
            } else {
                lastKnown[operation.key] = current.flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
                finish(.fail, operation.value)
            }
        case let (_, .sql(results, error)):
            if operation.function == .read {
                guard error == nil, let row = results.last?.rows.first, row.count == 2 else {
                    finish(.fail, .read(nil))
                    return
                }
                sumsRead += 1
                // A sum of the wrong count of accounts is recorded as an impossible sum.
                if case let .integer(sum) = row[0], case let .integer(count) = row[1], count == Int64(configuration.bank?.accounts ?? 0) {
                    finish(.ok, .read(sum))
                } else {
                    finish(.ok, .read(-1))
                }
            } else if !bankReady {
                bankReady = error == nil
                finish(error == nil ? .ok : .fail, operation.value)
            } else {
                if error != nil { transfersRefused += 1 }
                finish(error == nil ? .ok : .fail, operation.value)
            }
        case (_, .sessionExpired):
            unknownOutcomes += 1
            finish(.info, operation.value)
        default:
            preconditionFailure("client \(clientID): answer \(result) does not fit \(operation.function)")
        }
    }

    private func finish(_ type: HistoryEvent.EventType, _ value: HistoryEvent.Value) {
        record(type, value)
        current = nil
        completed += 1
        pendingResend = false
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = nil
        scheduleThink()
    }

    private func record(_ type: HistoryEvent.EventType, _ value: HistoryEvent.Value) {
        guard let operation = current else { return }
        history.record(HistoryEvent(process: environment.node.rawValue, type: type, function: operation.function,
            key: operation.key, value: value, timeNanoseconds: now, sequence: operation.sequence))
    }
}
