import Aegis

/// A client of a sharded cluster speaking SQL (`shard-sql-bank`): it creates the
/// accounts table (once it succeeds), then runs transfers (two UPDATEs in BEGIN …
/// COMMIT under a CHECK) and sums of every balance, one request at a time, each driven
/// by a `ShardSQLCall` — reads from the shards, commits of what it read and wrote — over
/// the same client protocol as any client, to any node.
///
/// Every message is a request of its own sequence: reads and map fetches are safe to
/// send again under a new one; a commit is sent again under the same sequence (to
/// another node after a timeout), which the shards apply at most once, until it is
/// answered. During the fault phase the client gives up on a sum after
/// `operationTimeout`; in the liveness phase it never gives up.
///
/// Writes (the setup and transfers) carry an identity (client, request number), so
/// their `RequestRecord` makes them apply at most once: one not answered within
/// `operationTimeout` is sent again whole, as a new call with the same identity, until
/// it is answered — applied once, its first answer replayed. Each transfer also counts
/// itself in its client's row of `tallies`, so the checker can tell a transfer applied
/// twice from one applied once: every client's tally must equal the transfers it was
/// told committed.
final class ShardSQLClient: NodeProcess {
    struct Configuration {
        var clientNumber: UInt32
        var servers: [NodeID]
        var operations: Int
        var bank: RegisterClient.BankOptions
        var readShare: Double
        var requestTimeoutNanoseconds: UInt64
        var operationTimeoutNanoseconds: UInt64
        var thinkTimeNanoseconds: ClosedRange<UInt64>
        var livenessStartNanoseconds: UInt64
        var retryBackoffNanoseconds: UInt64
        var mutations = MutationSet.none
    }

    /// What the workload's checkers read.
    struct Figures {
        var setups = 0
        var transfersCommitted = 0
        var transfersRefused = 0
        var sumsRead = 0
        /// Sums that committed with a total other than the bank's, or the wrong count.
        var wrongSums: [String] = []
        var failed = 0
        var unknown = 0
        /// Writes sent again whole (a new call, the same identity) after no answer.
        var resent = 0
        /// Writes found applied by an earlier attempt (their recorded answer returned).
        var replayed = 0
        var runs = 0
        var reads = 0
        var commits = 0
    }

    private enum Kind { case setup, transfer, sum }

    private struct Request {
        var kind: Kind
        var text: String
        var parameters: [SQLValue]
        var identity: TransactionID?
        var call: ShardSQLCall
        var invokedAtNanoseconds: UInt64
        /// The message in flight for the call's current action, and its sequence.
        var sequence: UInt64 = 0
        var action: ShardSQLCall.Action?
        var committing = false
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    private(set) var figures = Figures()
    private(set) var completed = 0
    private var ready = false
    private var current: Request?
    private var sequence: UInt64 = 0
    /// The identity of the last write request (its sequence in the request records).
    private var requestNumber: UInt64 = 0
    private var nextServer: Int
    private var thinkTimer: TimerID?
    private var attemptTimer: TimerID?
    private var pauseTimer: TimerID?

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
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
            } else if timer == pauseTimer {
                pauseTimer = nil
                drive()
            } else if timer == attemptTimer {
                attemptTimer = nil
                retry()
            }
        case let .message(_, bytes):
            guard let response = try? ShardClientResponse.decode(bytes), response.clientID == clientID,
                  let request = current, request.action != nil, response.sequence == request.sequence else { return }
            answered(response.outcome)
        }
    }

    // MARK: requests

    private func scheduleThink() {
        guard completed < configuration.operations else { return }
        let range = configuration.thinkTimeNanoseconds
        thinkTimer = environment.timers.arm(afterNanoseconds: environment.entropy.uniform(in: range.lowerBound...range.upperBound))
    }

    private func invoke() {
        let bank = configuration.bank
        let kind: Kind
        let text: String
        var parameters: [SQLValue] = []
        if !ready {
            (kind, text) = (.setup, bank.setupSQL + "; " + ShardSQLClient.talliesSQL)
            parameters = [.integer(Int64(clientID))]
        } else if Double(environment.entropy.uniform(below: 1 << 53)) / Double(1 << 53) < configuration.readShare {
            (kind, text) = (.sum, RegisterClient.BankOptions.sumSQL)
        } else {
            let from = Int(environment.entropy.uniform(below: UInt64(bank.accounts))) + 1
            let to = (from + Int(environment.entropy.uniform(below: UInt64(bank.accounts - 1)))) % bank.accounts + 1
            let amount = Int64(environment.entropy.uniform(below: UInt64(bank.transferMax))) + 1
            (kind, text) = (.transfer, ShardSQLClient.transferSQL)
            parameters = [.integer(Int64(from)), .integer(Int64(to)), .integer(amount), .integer(Int64(clientID))]
        }
        var identity: TransactionID?
        if kind != .sum {
            requestNumber += 1
            identity = TransactionID(client: clientID, sequence: requestNumber)
        }
        current = Request(kind: kind, text: text, parameters: parameters, identity: identity,
                          call: call(text, parameters, identity), invokedAtNanoseconds: now)
        drive()
    }

    /// Each client's row of transfers it made (its id is `$1`), made with the accounts.
    static let talliesSQL = "CREATE TABLE IF NOT EXISTS tallies (client INTEGER PRIMARY KEY, transfers INTEGER NOT NULL); "
        + "INSERT INTO tallies VALUES ($1, 0) ON CONFLICT (client) DO NOTHING"
    /// The bank's transfer, counted in the client's tally (`$4`) when it commits.
    static let transferSQL = "BEGIN; UPDATE accounts SET balance = balance + $3 WHERE id = $2; "
        + "UPDATE accounts SET balance = balance - $3 WHERE id = $1; UPDATE tallies SET transfers = transfers + 1 WHERE client = $4; COMMIT"

    private func call(_ text: String, _ parameters: [SQLValue], _ identity: TransactionID?) -> ShardSQLCall {
        ShardSQLCall(text: text, parameters: parameters, entropy: environment.entropy, mutations: configuration.mutations,
                     request: identity, nowMilliseconds: Int64(now / 1_000_000))
    }

    /// A write not answered in time is sent again whole: a new call with the same
    /// identity, which finds the request's record if an earlier attempt applied it.
    private func resend(_ request: Request) {
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = nil
        pauseTimer.map(environment.timers.cancel)
        pauseTimer = nil
        figures.resent += 1
        figures.runs += request.call.runs
        figures.reads += request.call.readsDone
        figures.commits += request.call.commits
        current = Request(kind: request.kind, text: request.text, parameters: request.parameters, identity: request.identity,
                          call: call(request.text, request.parameters, request.identity), invokedAtNanoseconds: now)
        nextServer = (nextServer + 1) % configuration.servers.count
        drive()
    }

    /// Takes the call's next action.
    private func drive() {
        guard var request = current else { return }
        let action = request.call.next()
        switch action {
        case let .finished(outcome):
            finished(request, outcome)
        case let .pause(nanoseconds):
            pauseTimer = environment.timers.arm(afterNanoseconds: max(1, nanoseconds))
        case .read, .fetchMap, .commit:
            request.action = action
            request.committing = { if case .commit = action { return true } else { return false } }()
            sequence += 1
            request.sequence = sequence
            current = request
            send()
        }
    }

    private func send() {
        guard let request = current, let action = request.action else { return }
        let operation: ShardClientOperation
        switch action {
        case let .read(start, end): operation = .read(start: start, end: end, limit: ShardSQLCall.readLimit)
        case .fetchMap: operation = .map
        case let .commit(operations): operation = .transaction(operations)
        case .pause, .finished: return
        }
        let message = ShardClientRequest(clientID: clientID, sequence: request.sequence, operation: operation)
        environment.network.send(to: configuration.servers[nextServer], bytes: message.encoded)
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
    }

    /// No answer in time, or one that says to try again: the same message to the next
    /// node (a commit keeps its sequence, so it applies at most once).
    private func retry(afterNanoseconds delay: UInt64 = 0) {
        guard let request = current, request.action != nil else { return }
        if now >= request.invokedAtNanoseconds + configuration.operationTimeoutNanoseconds, now < configuration.livenessStartNanoseconds {
            if request.identity != nil {
                resend(request)
                return
            }
            if request.committing { figures.unknown += 1 } else { figures.failed += 1 }
            done()
            return
        }
        nextServer = (nextServer + 1) % configuration.servers.count
        guard delay > 0 else {
            send()
            return
        }
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = environment.timers.arm(afterNanoseconds: delay)
    }

    private func answered(_ outcome: ShardClientOutcome) {
        guard var request = current, let action = request.action else { return }
        let event: ShardSQLCall.Event
        switch (action, outcome) {
        case let (.read, .read(entries, coveredEnd)): event = .read(entries, coveredEnd: coveredEnd)
        case let (.fetchMap, .map(map)): event = .map(map)
        case (.commit, .transaction(.committed)): event = .committed
        case let (.commit, .transaction(.aborted(reason))): event = .aborted(reason)
        case (_, .unavailable), (_, .unknown):
            retry(afterNanoseconds: configuration.retryBackoffNanoseconds)
            return
        default:
            // Refused, or an answer to another kind of request: a write is sent again
            // whole (its record keeps it from applying twice); a sum is lost.
            if request.identity != nil {
                resend(request)
                return
            }
            figures.failed += 1
            done()
            return
        }
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = nil
        request.action = nil
        request.committing = false
        current = request
        request.call.handle(event)
        drive()
    }

    private func finished(_ request: Request, _ outcome: ShardSQLOutcome) {
        figures.runs += request.call.runs
        figures.reads += request.call.readsDone
        figures.commits += request.call.commits
        figures.replayed += request.call.replayed ? 1 : 0
        switch request.kind {
        case .setup:
            if outcome.error == nil {
                ready = true
                figures.setups += 1
            } else {
                figures.failed += 1
            }
        case .transfer:
            if outcome.error == nil { figures.transfersCommitted += 1 } else { figures.transfersRefused += 1 }
        case .sum:
            if outcome.error == nil, let row = outcome.results.last?.rows.first, row.count == 2 {
                figures.sumsRead += 1
                if row != [.integer(configuration.bank.total), .integer(Int64(configuration.bank.accounts))] {
                    figures.wrongSums.append("client \(clientID) read sum and count \(row)")
                }
            } else {
                figures.failed += 1
            }
        }
        done()
    }

    private func done() {
        attemptTimer.map(environment.timers.cancel)
        attemptTimer = nil
        pauseTimer.map(environment.timers.cancel)
        pauseTimer = nil
        current = nil
        completed += ready ? 1 : 0
        scheduleThink()
    }
}
