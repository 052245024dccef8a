/// One SQL request (a text of statements and its parameters) on the sharded store, run
/// by a client of the shards — the server's SQL route, or a simulated client — without
/// I/O of its own: it says what to do next (`Action`), and is told what came of it.
///
/// How it runs: optimistically, on what it has read. Each *run* executes the whole
/// request with the SQL engine on a private copy of the keys read so far
/// (`ReadThroughBackend`). A run that needs keys not read yet goes on as if they were
/// absent, to find what else it needs; its result is thrown away, those keys are read
/// from the shards' leaders (`read`), and the request runs again from the start. A run that
/// completes is committed as one shard transaction: an `expectRange` for every range it
/// read (so it commits only if all of it still holds — serializable, and across shards
/// by two-phase commit), then its writes. A commit that finds a read stale drops what
/// was read and runs again; one that meets a lock or a moving shard backs off and tries
/// again. A run that ends in a SQL error is committed the same way (with no writes),
/// so the error is reported only if what it was judged on holds.
///
/// A request with an identity (`request`: its `X-Aegis-Request-Id`) first reads its
/// client's `RequestRecord`: when it holds this request, the request was applied and
/// its recorded answer is returned without running; otherwise a run that writes
/// commits the record with its writes, conditioned on the record read, so the request
/// applies at most once however often it is sent.
///
/// Bounds: at most `runsMax` runs, and a transaction's bounds on operations and bytes
/// (a request that writes more is refused with a clear error).
public final class ShardSQLCall {
    public enum Action: Equatable {
        /// Read the keys in `[start, end)` (`ShardClientOperation.read`); answer `read`.
        case read(start: [UInt8], end: [UInt8]?)
        /// Run this transaction (a new transaction id each time); answer `committed` or `aborted`.
        case commit([TransactionOperation])
        /// Fetch the gateway's shard map; answer `map`.
        case fetchMap
        /// Wait this long, then call `next` (a conflict backs off).
        case pause(nanoseconds: UInt64)
        case finished(ShardSQLOutcome)
    }

    public enum Event: Equatable {
        case read([ScannedEntry], coveredEnd: [UInt8]?)
        case committed
        case aborted(AbortReason)
        case map(ShardMap)
    }

    public static let runsMax = 64
    public static let readLimit = TransactionLimits.readEntriesMax

    public let text: String
    public let parameters: [SQLValue]
    private let cache = ShardReadCache()
    private var map: ShardMap?
    private var pendingReads: [KeySpan] = []
    private var awaiting: Action?
    private var result: ShardSQLOutcome?
    public private(set) var runs = 0
    public private(set) var commits = 0
    public private(set) var readsDone = 0
    /// Whether the request was found applied (its record's answer returned).
    public private(set) var replayed = false
    private var backoffNanoseconds: UInt64 = 1_000_000
    private var entropy: any Entropy
    /// Planted bug `sql-shard-unchecked-reads`: commits carry no `expectRange`.
    private let uncheckedReads: Bool
    /// Planted bug `sql-shard-no-request-record`: a request with an identity neither
    /// reads nor writes its record.
    private let noRequestRecord: Bool

    /// The request's identity, and the key of its client's record.
    public let request: TransactionID?
    private let recordSpan: KeySpan?
    /// The time written into the request's record (the caller's clock).
    private let nowMilliseconds: Int64

    /// `map` is the gateway's map when the caller has it (else it is fetched first).
    public init(text: String, parameters: [SQLValue], map: ShardMap? = nil, entropy: any Entropy,
                mutations: MutationSet = .none, request: TransactionID? = nil, nowMilliseconds: Int64 = 0) {
        self.text = text
        self.parameters = parameters
        self.request = request
        recordSpan = request.map { KeySpans.single(RequestRecord.key(client: $0.client)) }
        self.nowMilliseconds = nowMilliseconds
        self.map = map
        self.entropy = entropy
        uncheckedReads = mutations.contains(.sqlShardUncheckedReads)
        noRequestRecord = mutations.contains(.sqlShardNoRequestRecord)
    }

    /// What to do now. Call it again after answering the previous action with `handle`.
    public func next() -> Action {
        precondition(awaiting == nil, "the previous action is still awaiting its answer")
        let action = decide()
        if case .finished = action {} else if case .pause = action {} else { awaiting = action }
        return action
    }

    public func handle(_ event: Event) {
        guard let action = awaiting else { preconditionFailure("an answer with no action awaiting it") }
        awaiting = nil
        switch (action, event) {
        case let (.read(start, end), .read(entries, coveredEnd)):
            readsDone += 1
            let requested = KeySpan(start: start, end: end)
            // The answer covers up to where the shard (or the limit) stopped it.
            let stop = KeySpans.minEnd(coveredEnd, end)
            if let stop, !start.lexicographicallyPrecedes(stop) {
                result = ShardSQLOutcome(results: [], error: "storage error: a read of the shards answered no progress at \(KVText.show(start)); run the request again")
                finished = true
                return
            }
            let covered = KeySpan(start: start, end: stop)
            cache.insert(entries.filter { covered.contains($0.key) }.map { ($0.key, $0.value) }, covering: covered)
            pendingReads.removeFirst()
            if let stop, KeySpans.endsAfter(requested.end, stop) {
                pendingReads.insert(KeySpan(start: stop, end: requested.end), at: 0)
            }
        case (.fetchMap, let .map(newer)):
            if map == nil || newer.version >= map!.version { map = newer }
        case (.commit, .committed):
            commits += 1
            // `decide` hands over the result.
            pendingReads.removeAll()
            finished = true
        case let (.commit, .aborted(reason)):
            commits += 1
            switch reason {
            case .condition:
                // Something read changed: read it again.
                cache.clear()
            case .staleMap:
                map = nil
            case .invalid(let message):
                result = ShardSQLOutcome(results: [], error: "the request cannot commit on the sharded store: \(message)")
                finished = true
            case .conflict, .timeout, .stale:
                pausing = true
            }
        default:
            preconditionFailure("\(event) does not answer \(action)")
        }
    }

    private var finished = false
    private var pausing = false

    private func decide() -> Action {
        if finished, let result { return .finished(result) }
        if pausing {
            pausing = false
            let pause = backoffNanoseconds / 2 + entropy.uniform(below: backoffNanoseconds)
            backoffNanoseconds = min(backoffNanoseconds * 2, 64_000_000)
            return .pause(nanoseconds: pause)
        }
        if let span = pendingReads.first { return .read(start: span.start, end: span.end) }
        if let request, let recordSpan, !noRequestRecord {
            if !cache.uncovered(recordSpan).isEmpty {
                pendingReads = [recordSpan]
                return .read(start: recordSpan.start, end: recordSpan.end)
            }
            switch RequestRecord.verdict(stored: cache.pairs(in: recordSpan).first?.value, sequence: request.sequence) {
            case .run: break
            case let .replay(answer):
                replayed = true
                guard case let .sql(results, error) = answer else {
                    return .finished(ShardSQLOutcome(results: [], error: "request error: this X-Aegis-Request-Id was already used by a key-value request; use a new sequence"))
                }
                return .finished(ShardSQLOutcome(results: results, error: error))
            case .stale:
                return .finished(ShardSQLOutcome(results: [], error: "request error: " + RequestRecord.staleMessage))
            }
        }
        guard let map else { return .fetchMap }
        guard runs < ShardSQLCall.runsMax else {
            return .finished(ShardSQLOutcome(results: [], error:
                "the request ran \(ShardSQLCall.runsMax) times and never committed (its reads kept changing under it); run it again"))
        }
        runs += 1
        let run: ShardSQLRun
        do { run = try ShardSQLRun(text: text, parameters: parameters, cache: cache) } catch {
            return .finished(ShardSQLOutcome(results: [], error: "storage error: \(error)"))
        }
        if !run.misses.isEmpty {
            pendingReads = KeySpans.coalesced(KeySpans.union(run.misses), prefixBytes: RowLayout.neighbourhoodPrefixBytes)
            return .read(start: pendingReads[0].start, end: pendingReads[0].end)
        }
        result = run.outcome
        if run.observed.isEmpty && run.writes.isEmpty { return .finished(run.outcome) }
        // The record read must still hold at the commit, written or not: a run that
        // writes nothing (refused by a CHECK, say) may have read what an earlier
        // attempt of this very request wrote after the record was read; the commit then
        // fails, and the next run finds the record and replays it.
        var recordOperations: [TransactionOperation] = []
        if let request, let recordSpan, !noRequestRecord {
            let (count, digest) = RangeDigest.of(cache.pairs(in: recordSpan))
            recordOperations = [.expectRange(start: recordSpan.start, end: recordSpan.end, count: count, digest: digest)]
            if !run.writes.isEmpty {
                let record = RequestRecord(sequence: request.sequence, writtenAtMilliseconds: nowMilliseconds,
                                           answer: .sql(run.outcome.results, error: run.outcome.error))
                recordOperations.append(.put(key: recordSpan.start, value: record.encoded()))
            }
        }
        switch run.operations(map: map, cache: cache, then: recordOperations) {
        case let .success(operations):
            let committed = uncheckedReads ? operations.filter { $0.range == nil } : operations
            if committed.isEmpty { return .finished(run.outcome) }
            return .commit(committed)
        case let .failure(problem): return .finished(ShardSQLOutcome(results: [], error: problem.message))
        }
    }
}

extension ShardSQLCall {
    /// Where the SQL catalog lives in the key space (read it with `read`).
    public static var catalogSpan: KeySpan { KeySpans.single(RowLayout.catalogKey) }

    /// The catalog from a read of `catalogSpan` (empty when no table was ever made).
    public static func catalog(fromRead entries: [ScannedEntry]) throws(DecodeError) -> Catalog {
        guard let stored = entries.first(where: { $0.key == RowLayout.catalogKey }) else { return Catalog() }
        return try Catalog.decode(stored.value)
    }
}

/// What a SQL request answers: each statement's result up to the first error, and the
/// error (rendered with its line and caret), if any.
public struct ShardSQLOutcome: Equatable, Sendable {
    public var results: [QueryResult]
    public var error: String?

    public init(results: [QueryResult], error: String?) {
        self.results = results
        self.error = error
    }
}

/// One run of a request on a private copy of what was read.
struct ShardSQLRun {
    var outcome: ShardSQLOutcome
    var misses: [KeySpan]
    var observed: [KeySpan]
    var writes: [(key: [UInt8], value: [UInt8]?)]

    init(text: String, parameters: [SQLValue], cache: ShardReadCache) throws(StorageError) {
        let backend = try ReadThroughBackend(cache: cache)
        let database = SQLDatabase(store: MVCCStore(backend: backend))
        // Plans must not count rows (a count would read whole tables).
        database.fixedRowEstimate = 1000
        let session = database.session()
        let (results, error) = session.executeAll(text, parameters: parameters)
        var message = error?.rendered(in: text)
        if session.inTransaction {
            session.abandon()
            message = message ?? "the transaction was rolled back: a request must end its transaction with COMMIT or ROLLBACK"
        }
        outcome = ShardSQLOutcome(results: results, error: message)
        misses = backend.misses
        observed = KeySpans.union(backend.observed)
        // A run that missed a read stopped early: what it wrote is not the request's.
        writes = misses.isEmpty ? backend.writes : []
    }

    /// The commit: every range read, cut at the shards' boundaries, expected to hold
    /// what was read there; then the writes, then `extra` (the request's record). Fails
    /// with a message when it would not fit one transaction.
    func operations(map: ShardMap, cache: ShardReadCache, then extra: [TransactionOperation] = []) -> Result<[TransactionOperation], ShardSQLError> {
        var operations: [TransactionOperation] = []
        var bytes = 0
        for span in observed {
            for piece in KeySpans.cut(span, by: map) {
                let (count, digest) = RangeDigest.of(cache.pairs(in: piece))
                operations.append(.expectRange(start: piece.start, end: piece.end, count: count, digest: digest))
                bytes += piece.start.count + (piece.end?.count ?? 0) + 24
            }
        }
        for (key, value) in writes {
            operations.append(value.map { .put(key: key, value: $0) } ?? .delete(key: key))
            bytes += key.count + (value?.count ?? 0) + 16
        }
        for operation in extra {
            operations.append(operation)
            if case let .put(key, value) = operation { bytes += key.count + value.count + 16 } else { bytes += 48 }
        }
        guard operations.count <= TransactionLimits.operationsMax, bytes <= TransactionLimits.bytesMax else {
            return .failure(ShardSQLError(message: "limit error: the request reads \(observed.count) range(s) and writes \(writes.count) key(s), "
                + "\(operations.count) operations and \(bytes) bytes in all; one transaction on the sharded store holds at most "
                + "\(TransactionLimits.operationsMax) operations and \(TransactionLimits.bytesMax) bytes; split it into smaller requests"))
        }
        return .success(operations)
    }
}

struct ShardSQLError: Error, Equatable {
    var message: String
}
