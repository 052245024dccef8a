import Aegis

/// A client of the storage node: one request at a time — a transfer between accounts,
/// a batch of writes and deletes, a read of a few keys, or a scan — with a think time
/// between. A request unanswered within the timeout is given up (its outcome unknown)
/// and the client moves on. Clients only count answers; the checker judges the node.
final class StorageClient: NodeProcess {
    struct Configuration {
        var clientNumber: Int
        var server: NodeID
        var operations: Int
        var keys: Int
        var accounts: Int
        var valueBytesMax: Int
        /// A value this long is over the engine's limit (the oversized requests).
        var oversizedValueBytes: Int
        var oversizedShare: Double
        var requestTimeoutNanoseconds: UInt64
        var thinkTimeNanoseconds: ClosedRange<UInt64>
    }

    /// Answers by kind, for the run summary.
    struct Tally {
        var committed = 0
        var refused = 0
        var failed = 0
        var values = 0
        var timedOut = 0
    }

    let environment: NodeEnvironment
    let configuration: Configuration
    private(set) var tally = Tally()
    private(set) var completed = 0
    private var outstanding: UInt64?
    private var nextID: UInt64 = 1
    private var thinkTimer: TimerID?
    private var timeoutTimer: TimerID?

    init(environment: NodeEnvironment, configuration: Configuration) {
        self.environment = environment
        self.configuration = configuration
    }

    var isFinished: Bool { completed >= configuration.operations && outstanding == nil }

    static func key(_ number: Int) -> [UInt8] {
        Array("kv/\(number < 10 ? "00" : number < 100 ? "0" : "")\(number)".utf8)
    }

    func start() throws(DiskError) {
        scheduleThink()
    }

    func handle(_ event: NodeEvent) throws(DiskError) {
        switch event {
        case let .timer(timer):
            if timer == thinkTimer {
                thinkTimer = nil
                send()
            } else if timer == timeoutTimer {
                timeoutTimer = nil
                guard outstanding != nil else { return }
                outstanding = nil
                tally.timedOut += 1
                finishOne()
            }
        case let .message(_, bytes):
            guard let reply = try? StorageReply.decode(bytes), reply.id == outstanding else { return }
            outstanding = nil
            switch reply {
            case .committed: tally.committed += 1
            case .refused: tally.refused += 1
            case .failed: tally.failed += 1
            case .values: tally.values += 1
            }
            if let timeoutTimer { environment.timers.cancel(timeoutTimer) }
            timeoutTimer = nil
            finishOne()
        }
    }

    private func finishOne() {
        completed += 1
        if completed < configuration.operations { scheduleThink() }
    }

    private func scheduleThink() {
        let range = configuration.thinkTimeNanoseconds
        thinkTimer = environment.timers.arm(afterNanoseconds: environment.entropy.uniform(in: range.lowerBound...range.upperBound))
    }

    private func draw(_ bound: Int) -> Int {
        Int(environment.entropy.uniform(below: UInt64(bound)))
    }

    private func send() {
        let id = UInt64(configuration.clientNumber) << 40 | nextID
        nextID += 1
        let isolation: IsolationLevel = draw(2) == 0 ? .snapshot : .serializable
        let request: StorageRequest
        switch draw(100) {
        case 0..<35:
            request = .transfer(id: id, from: draw(configuration.accounts), to: draw(configuration.accounts),
                                amount: 1 + draw(200), isolation: isolation)
        case 35..<70:
            let writes = (0..<(1 + draw(4))).map { _ -> KeyWrite in
                let key = StorageClient.key(draw(configuration.keys))
                if draw(5) == 0 { return KeyWrite(key: key, value: nil) }
                let oversized = Double(draw(10_000)) < configuration.oversizedShare * 10_000
                let length = oversized ? configuration.oversizedValueBytes : 1 + draw(configuration.valueBytesMax)
                let stamp = Array("c\(configuration.clientNumber)-\(id & 0xFF_FFFF)-".utf8)
                return KeyWrite(key: key, value: Array((stamp + [UInt8](repeating: UInt8(97 + draw(26)), count: length)).prefix(max(length, stamp.count))))
            }
            request = .write(id: id, writes: writes, isolation: isolation)
        case 70..<90:
            let keys = (0..<(1 + draw(4))).map { _ in
                draw(3) == 0 ? StorageServer.accountKey(draw(configuration.accounts)) : StorageClient.key(draw(configuration.keys))
            }
            request = .read(id: id, keys: keys)
        default:
            let start = draw(configuration.keys)
            request = .scan(id: id, start: StorageClient.key(start), end: StorageClient.key(start + 1 + draw(40)),
                            limit: 1 + draw(30))
        }
        outstanding = id
        environment.network.send(to: configuration.server, bytes: request.encode())
        timeoutTimer = environment.timers.arm(afterNanoseconds: configuration.requestTimeoutNanoseconds)
    }
}
