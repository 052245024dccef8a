/// One data shard's replicated state: its range, its keys (each value with the commit
/// timestamp that wrote it), and the transaction state that must survive crashes and
/// snapshots — sessions (a retried request is answered, not applied again), prepared
/// transactions with their locks and staged writes, and the records of the
/// transactions this shard coordinates.
///
/// Every replica applies the same commands in log order and ends in the same state.
/// `apply` returns what happened (`ShardEffect`); only the leader acts on it (answers,
/// votes, decisions); after a change of leader the new one finds what is outstanding
/// in this state (`pendingRecords`, `preparedTransactions`) and carries on.
public final class ShardStateMachine {
    public struct Version: Sendable, Equatable {
        public var value: [UInt8]
        public var timestamp: HybridTimestamp
    }

    struct Session: Equatable {
        var lastSequence: UInt64
        var outcome: TransactionOutcome
        var appliedAt: LogIndex
    }

    /// A transaction prepared here, waiting for its coordinator's decision.
    public struct Prepared: Sendable, Equatable {
        public var coordinator: ShardID
        public var locks: [(key: [UInt8], exclusive: Bool)]
        /// Shared locks on ranges (its `expectRange`s).
        public var rangeLocks: [KeySpan] = []
        /// Staged writes, in key order; nil deletes.
        public var writes: [(key: [UInt8], value: [UInt8]?)]
        public var reads: [TransactionRead]
        public var timestamp: HybridTimestamp
        public var preparedAt: LogIndex

        public static func == (lhs: Prepared, rhs: Prepared) -> Bool {
            lhs.coordinator == rhs.coordinator && lhs.reads == rhs.reads && lhs.timestamp == rhs.timestamp
                && lhs.preparedAt == rhs.preparedAt && lhs.rangeLocks == rhs.rangeLocks
                && lhs.locks.map(\.key) == rhs.locks.map(\.key) && lhs.locks.map(\.exclusive) == rhs.locks.map(\.exclusive)
                && lhs.writes.map(\.key) == rhs.writes.map(\.key) && lhs.writes.map(\.value) == rhs.writes.map(\.value)
        }
    }

    /// A transaction this shard coordinates.
    public struct Record: Sendable, Equatable {
        public var participants: [ParticipantPlan]
        /// nil while pending; the first decision in the log.
        public var outcome: TransactionOutcome?
        public var begunAt: LogIndex
    }

    public struct Options: Sendable {
        public var sessionsMax = 100_000
        /// Planted bug: a prepare takes no locks, so nothing stops another transaction
        /// from reading or writing its keys before the decision.
        public var releaseLocksEarly = false
        /// Planted bug: keys outside the shard's range are served, so a request routed
        /// with a stale map is never refused and sent to retry.
        public var skipRangeCheck = false

        public init() {}
    }

    public let options: Options
    public private(set) var id: ShardID
    public private(set) var range: KeySpan
    public private(set) var generation: UInt64
    public private(set) var appliedIndex = LogIndex.zero
    /// The highest timestamp this shard has committed or prepared at: every later one is above it.
    public private(set) var maxTimestamp = HybridTimestamp.zero
    private(set) var data: [[UInt8]: Version] = [:]
    private(set) var sessions: [UInt64: Session] = [:]
    public private(set) var prepared: [TransactionID: Prepared] = [:]
    public private(set) var records: [TransactionID: Record] = [:]
    /// Per client, the highest sequence whose decision this shard applied as a participant.
    private(set) var finished: [UInt64: UInt64] = [:]
    private(set) var locks = LockTable()
    /// Commits this shard was told of for transactions it never prepared: impossible in
    /// a correct protocol, counted for the checkers.
    public private(set) var unpreparedCommits = 0
    /// Commits at a timestamp below the participant's prepare: as impossible, as counted.
    public private(set) var commitsBelowPrepare = 0
    /// Transaction operations (reads and writes) this replica applied since it was
    /// created or restored: the shard's load, which the placement driver turns into a
    /// rate. Volatile and not part of the state: replicas may count from different starts.
    public private(set) var operationsApplied: UInt64 = 0

    public init(id: ShardID, range: KeySpan, generation: UInt64 = 1, options: Options = Options()) {
        self.id = id
        self.range = range
        self.generation = generation
        self.options = options
    }

    /// A new shard's state, as its first snapshot holds it (at `creationIndex`).
    public static func creating(id: ShardID, range: KeySpan, options: Options = Options()) -> ShardStateMachine {
        let state = ShardStateMachine(id: id, range: range, generation: 1, options: options)
        state.appliedIndex = creationIndex
        return state
    }

    public var keyCount: Int { data.count }
    public var dataBytes: Int { data.reduce(0) { $0 + $1.key.count + $1.value.value.count } }

    public func read(_ key: [UInt8]) -> Version? { data[key] }

    /// Whether a plain read of `key` would see past an undecided write.
    public func isExclusivelyLocked(_ key: [UInt8]) -> Bool { locks.isExclusivelyLocked(key) }

    /// Keys in `[start, end)` in order, at most `limit`.
    public func scan(from start: [UInt8], to end: [UInt8]?, limit: Int) -> [(key: [UInt8], version: Version)] {
        let keys = data.keys.filter { key in
            !key.lexicographicallyPrecedes(start) && (end.map { key.lexicographicallyPrecedes($0) } ?? true)
        }.sorted { $0.lexicographicallyPrecedes($1) }
        return keys.prefix(limit).map { ($0, data[$0]!) }
    }

    /// A key near the middle of the shard's keys, to split at (nil with fewer than two keys).
    public func middleKey() -> [UInt8]? {
        guard data.count >= 2 else { return nil }
        let keys = data.keys.sorted { $0.lexicographicallyPrecedes($1) }
        let middle = keys[keys.count / 2]
        return range.canSplit(at: middle) ? middle : nil
    }

    /// Records not yet decided, by id.
    public var pendingRecords: [TransactionID] {
        records.keys.filter { records[$0]!.outcome == nil }.sorted()
    }

    /// Records decided but not yet forgotten, by id.
    public var decidedRecords: [TransactionID] {
        records.keys.filter { records[$0]!.outcome != nil }.sorted()
    }

    public var preparedTransactions: [TransactionID] { prepared.keys.sorted() }

    /// Whether this shard applied a decision for this transaction, or for a later one of
    /// its client (which only starts once this one is settled or given up).
    public func hasFinished(_ transaction: TransactionID) -> Bool {
        (finished[transaction.client] ?? 0) >= transaction.sequence
    }

    /// The answer for a request this shard already saw, from its client's session: the
    /// outcome when it is the last one applied, `stale` when a later one was.
    public func sessionAnswer(_ transaction: TransactionID) -> TransactionOutcome? {
        guard let session = sessions[transaction.client] else { return nil }
        if transaction.sequence == session.lastSequence { return session.outcome }
        if transaction.sequence < session.lastSequence { return .aborted(.stale) }
        return nil
    }

    // MARK: applying the log

    /// Applies a committed entry. No-ops and configuration entries only move the index.
    public func apply(_ entry: LogEntry) -> [ShardEffect] {
        precondition(entry.index == appliedIndex.next, "\(id): entries apply in order: \(entry.index) after \(appliedIndex)")
        appliedIndex = entry.index
        guard entry.kind == .command else { return [] }
        guard let command = try? ShardCommand.decode(entry.data) else {
            preconditionFailure("\(id): a committed command at \(entry.index) does not decode")
        }
        switch command {
        case let .execute(transaction, plan, proposed):
            return execute(transaction, plan, proposed: proposed)
        case let .begin(transaction, participants, proposed):
            return begin(transaction, participants, proposed: proposed)
        case let .prepare(transaction, coordinator, plan, proposed):
            return [prepare(transaction, coordinator: coordinator, plan, proposed: proposed)]
        case let .decide(transaction, outcome):
            return [decide(transaction, outcome)]
        case let .finish(transaction, coordinator, commit, timestamp):
            return finish(transaction, coordinator: coordinator, commit: commit, timestamp: timestamp)
        case let .forget(transaction):
            records[transaction] = nil
            return []
        case let .split(key, right, expected):
            return [split(at: key, right: right, expectedGeneration: expected)]
        }
    }

    private func execute(_ transaction: TransactionID, _ plan: ParticipantPlan, proposed: HybridTimestamp) -> [ShardEffect] {
        if let answer = sessionAnswer(transaction) { return [.executed(transaction, answer)] }
        operationsApplied += UInt64(plan.operations.count)
        if let record = records[transaction] {
            // Begun here as a two-phase transaction by an earlier attempt: that one decides.
            return record.outcome.map { [.executed(transaction, $0)] } ?? []
        }
        if keyOutsideRange(plan) != nil { return [.staleMap(transaction, descriptorFields)] }
        let outcome: TransactionOutcome
        let lockKeys = ShardStateMachine.lockKeys(plan)
        if let key = locks.conflict(for: transaction, keys: lockKeys, ranges: ShardStateMachine.lockRanges(plan)) {
            outcome = .aborted(.conflict(key: key))
        } else {
            switch evaluate(plan) {
            case let .failure(reason):
                outcome = .aborted(reason)
            case let .success((writes, reads)):
                let timestamp = max(proposed, maxTimestamp.next)
                maxTimestamp = timestamp
                install(writes, at: timestamp)
                outcome = .committed(timestamp: timestamp, reads: reads)
            }
        }
        noteSession(transaction, outcome)
        return [.executed(transaction, outcome)]
    }

    private func begin(_ transaction: TransactionID, _ participants: [ParticipantPlan], proposed: HybridTimestamp) -> [ShardEffect] {
        if let answer = sessionAnswer(transaction) { return [.executed(transaction, answer)] }
        if let record = records[transaction] {
            return [record.outcome.map { .decided(transaction, $0) } ?? .coordinating(transaction)]
        }
        // A transaction is decided by the shard that holds its first key (its anchor),
        // and only there: a begin planned on an older map, reaching a shard that split
        // since, is refused, so one transaction never gets two coordinators.
        guard let anchor = participants.lazy.flatMap(\.operations).first(where: { $0.index == 0 })?.operation.key,
              options.skipRangeCheck || range.contains(anchor) else {
            return [.staleMap(transaction, descriptorFields)]
        }
        maxTimestamp = max(maxTimestamp, proposed)
        records[transaction] = Record(participants: participants, outcome: nil, begunAt: appliedIndex)
        return [.coordinating(transaction)]
    }

    private func prepare(_ transaction: TransactionID, coordinator: ShardID, _ plan: ParticipantPlan,
                         proposed: HybridTimestamp) -> ShardEffect {
        if let earlier = prepared[transaction] {
            guard earlier.coordinator == coordinator else { return .voted(transaction, coordinator: coordinator, .no(.stale)) }
            return .voted(transaction, coordinator: earlier.coordinator, .yes(timestamp: earlier.timestamp, reads: earlier.reads))
        }
        if let done = finished[transaction.client], done >= transaction.sequence {
            return .voted(transaction, coordinator: coordinator, .no(.stale))
        }
        operationsApplied += UInt64(plan.operations.count)
        if keyOutsideRange(plan) != nil {
            return .voted(transaction, coordinator: coordinator, .no(.staleMap(shard: id)))
        }
        let lockKeys = ShardStateMachine.lockKeys(plan)
        let lockRanges = ShardStateMachine.lockRanges(plan)
        if let key = locks.conflict(for: transaction, keys: lockKeys, ranges: lockRanges) {
            return .voted(transaction, coordinator: coordinator, .no(.conflict(key: key)))
        }
        switch evaluate(plan) {
        case let .failure(reason):
            return .voted(transaction, coordinator: coordinator, .no(reason))
        case let .success((writes, reads)):
            let timestamp = max(proposed, maxTimestamp.next)
            maxTimestamp = timestamp
            if !options.releaseLocksEarly { locks.acquire(for: transaction, keys: lockKeys, ranges: lockRanges) }
            prepared[transaction] = Prepared(coordinator: coordinator, locks: lockKeys, rangeLocks: lockRanges, writes: writes,
                reads: reads, timestamp: timestamp, preparedAt: appliedIndex)
            return .voted(transaction, coordinator: coordinator, .yes(timestamp: timestamp, reads: reads))
        }
    }

    private func decide(_ transaction: TransactionID, _ outcome: TransactionOutcome) -> ShardEffect {
        guard var record = records[transaction] else { return .decisionUnknown(transaction) }
        if record.outcome == nil {
            record.outcome = outcome
            records[transaction] = record
            if case let .committed(timestamp, _) = outcome { maxTimestamp = max(maxTimestamp, timestamp) }
            noteSession(transaction, outcome)
        }
        return .decided(transaction, record.outcome!)
    }

    private func finish(_ transaction: TransactionID, coordinator: ShardID, commit: Bool,
                        timestamp: HybridTimestamp) -> [ShardEffect] {
        // Only the coordinator this shard prepared for decides its fate.
        if let staged = prepared[transaction], staged.coordinator != coordinator { return [] }
        if let staged = prepared.removeValue(forKey: transaction) {
            locks.release(for: transaction, keys: staged.locks.map(\.key))
            if commit {
                // A commit below the prepare's timestamp breaks the timestamp order; it
                // cannot come from a correct coordinator, and is counted for the checkers.
                if timestamp < staged.timestamp { commitsBelowPrepare += 1 }
                let at = max(timestamp, staged.timestamp)
                maxTimestamp = max(maxTimestamp, at)
                install(staged.writes, at: at)
            }
        } else if commit, !hasFinished(transaction) {
            unpreparedCommits += 1
        }
        finished[transaction.client] = max(finished[transaction.client] ?? 0, transaction.sequence)
        return [.finished(transaction, coordinator: coordinator)]
    }

    private func split(at key: [UInt8], right: ShardID, expectedGeneration: UInt64) -> ShardEffect {
        guard expectedGeneration == generation else {
            return .splitRefused("\(id) is at generation \(generation), not \(expectedGeneration)")
        }
        guard range.canSplit(at: key) else { return .splitRefused("\(KVText.show(key)) does not split \(range)") }
        guard prepared.isEmpty, pendingRecords.isEmpty else {
            return .splitRefused("\(id) has transactions in flight; split when they are decided")
        }
        let rightRange = KeySpan(start: key, end: range.end)
        let rightState = ShardStateMachine(id: right, range: rightRange, generation: generation + 1, options: options)
        for moved in data.keys.filter({ rightRange.contains($0) }).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            rightState.data[moved] = data.removeValue(forKey: moved)
        }
        rightState.sessions = sessions
        rightState.finished = finished
        rightState.maxTimestamp = maxTimestamp
        rightState.appliedIndex = ShardStateMachine.creationIndex
        range = KeySpan(start: range.start, end: key)
        generation += 1
        return .split(left: descriptorFields, right: rightState.descriptorFields, rightState: rightState.snapshot())
    }

    // MARK: evaluation

    /// The index a shard made by a split starts its log after (its first snapshot's),
    /// with `creationTerm`: the same on every replica that applies the split.
    public static let creationIndex = LogIndex(10)
    public static let creationTerm = Term(5)

    public struct DescriptorFields: Sendable, Equatable {
        public var id: ShardID
        public var range: KeySpan
        public var generation: UInt64
    }

    public var descriptorFields: DescriptorFields { DescriptorFields(id: id, range: range, generation: generation) }

    private func keyOutsideRange(_ plan: ParticipantPlan) -> [UInt8]? {
        guard !options.skipRangeCheck else { return nil }
        return plan.operations.first { _, operation in
            guard range.contains(operation.key) else { return true }
            guard let span = operation.range, let shardEnd = range.end else { return false }
            // A range must end within the shard too.
            return span.end.map { shardEnd.lexicographicallyPrecedes($0) } ?? true
        }?.operation.key
    }

    /// The ranges a plan locks (shared): its `expectRange`s.
    static func lockRanges(_ plan: ParticipantPlan) -> [KeySpan] {
        plan.operations.compactMap { $0.operation.range }
    }

    /// The locks a plan needs: exclusive where any of its operations writes the key.
    static func lockKeys(_ plan: ParticipantPlan) -> [(key: [UInt8], exclusive: Bool)] {
        var keys: [(key: [UInt8], exclusive: Bool)] = []
        for (_, operation) in plan.operations {
            if let position = keys.firstIndex(where: { $0.key == operation.key }) {
                keys[position].exclusive = keys[position].exclusive || operation.writes
            } else {
                keys.append((operation.key, operation.writes))
            }
        }
        return keys.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    }

    typealias Evaluation = (writes: [(key: [UInt8], value: [UInt8]?)], reads: [TransactionRead])

    /// Runs a plan's operations in order against the data and its own earlier writes.
    private func evaluate(_ plan: ParticipantPlan) -> Result<Evaluation, AbortReason> {
        var staged: [(key: [UInt8], value: [UInt8]?)] = []
        var reads: [TransactionRead] = []
        func current(_ key: [UInt8]) -> [UInt8]? {
            if let write = staged.last(where: { $0.key == key }) { return write.value }
            return data[key]?.value
        }
        func stage(_ key: [UInt8], _ value: [UInt8]?) {
            if let position = staged.firstIndex(where: { $0.key == key }) { staged[position].value = value } else { staged.append((key, value)) }
        }
        for (index, operation) in plan.operations {
            switch operation {
            case let .get(key):
                reads.append(TransactionRead(operation: index, value: current(key)))
            case let .put(key, value):
                stage(key, value)
            case let .delete(key):
                stage(key, nil)
            case let .append(key, element):
                let value = current(key)
                guard IntegerList.decode(value) != nil else { return .failure(.invalid("\(KVText.show(key)) does not hold a list")) }
                guard (value?.count ?? 0) + 8 <= TransactionLimits.listBytesMax else {
                    return .failure(.invalid("the list at \(KVText.show(key)) would pass \(TransactionLimits.listBytesMax) bytes"))
                }
                stage(key, IntegerList.appending(element, to: value))
            case let .add(key, delta, minimum):
                let value = current(key)
                guard let number = IntegerValue.decode(value) else { return .failure(.invalid("\(KVText.show(key)) does not hold an integer")) }
                let (sum, overflow) = number.addingReportingOverflow(delta)
                guard !overflow else { return .failure(.invalid("adding \(delta) to \(KVText.show(key)) overflows")) }
                if let minimum, sum < minimum { return .failure(.condition(key: key, current: value)) }
                stage(key, IntegerValue.encode(sum))
            case let .expect(key, expected):
                let value = current(key)
                guard value == expected else { return .failure(.condition(key: key, current: value)) }
            case let .expectRange(start, end, count, digest):
                let span = KeySpan(start: start, end: end)
                var keys = data.keys.filter { span.contains($0) }
                for write in staged where span.contains(write.key) && data[write.key] == nil { keys.append(write.key) }
                keys.sort { $0.lexicographicallyPrecedes($1) }
                let found = RangeDigest.of(keys.lazy.compactMap { key in current(key).map { (key: key, value: $0) } })
                guard found.count == count, found.digest == digest else { return .failure(.condition(key: start, current: nil)) }
            }
        }
        return .success((staged.sorted { $0.key.lexicographicallyPrecedes($1.key) }, reads))
    }

    private func install(_ writes: [(key: [UInt8], value: [UInt8]?)], at timestamp: HybridTimestamp) {
        for (key, value) in writes {
            if let value { data[key] = Version(value: value, timestamp: timestamp) } else { data[key] = nil }
        }
    }

    private func noteSession(_ transaction: TransactionID, _ outcome: TransactionOutcome) {
        if let session = sessions[transaction.client], session.lastSequence >= transaction.sequence { return }
        sessions[transaction.client] = Session(lastSequence: transaction.sequence, outcome: outcome, appliedAt: appliedIndex)
        if sessions.count > options.sessionsMax, let oldest = sessions.min(by: { lhs, rhs in
            (lhs.value.appliedAt, lhs.key) < (rhs.value.appliedAt, rhs.key)
        }) {
            sessions[oldest.key] = nil
        }
    }

    // MARK: snapshots

    static let snapshotVersion: UInt8 = 2

    /// The whole state, every table in key order, so equal states give equal bytes.
    public func snapshot() -> [UInt8] {
        var writer = ByteWriter(capacity: 128 + data.count * 32)
        writer.write(ShardStateMachine.snapshotVersion)
        writer.write(appliedIndex.rawValue)
        writer.write(id.rawValue)
        range.encode(into: &writer)
        writer.write(generation)
        maxTimestamp.encode(into: &writer)
        writer.write(UInt64(unpreparedCommits))
        writer.write(UInt64(commitsBelowPrepare))
        writer.write(UInt32(data.count))
        for key in data.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let version = data[key]!
            writer.write(lengthPrefixed: key)
            writer.write(lengthPrefixed: version.value)
            version.timestamp.encode(into: &writer)
        }
        writer.write(UInt32(sessions.count))
        for client in sessions.keys.sorted() {
            let session = sessions[client]!
            writer.write(client)
            writer.write(session.lastSequence)
            writer.write(session.appliedAt.rawValue)
            session.outcome.encode(into: &writer)
        }
        writer.write(UInt32(finished.count))
        for client in finished.keys.sorted() {
            writer.write(client)
            writer.write(finished[client]!)
        }
        writer.write(UInt32(prepared.count))
        for transaction in prepared.keys.sorted() {
            let staged = prepared[transaction]!
            transaction.encode(into: &writer)
            writer.write(staged.coordinator.rawValue)
            writer.write(UInt32(staged.locks.count))
            for (key, exclusive) in staged.locks {
                writer.write(lengthPrefixed: key)
                writer.write(UInt8(exclusive ? 1 : 0))
            }
            writer.write(UInt32(staged.rangeLocks.count))
            for span in staged.rangeLocks { span.encode(into: &writer) }
            writer.write(UInt32(staged.writes.count))
            for (key, value) in staged.writes {
                writer.write(lengthPrefixed: key)
                writer.write(optionalBytes: value)
            }
            TransactionOutcome.committed(timestamp: staged.timestamp, reads: staged.reads).encode(into: &writer)
            writer.write(staged.preparedAt.rawValue)
        }
        writer.write(UInt32(records.count))
        for transaction in records.keys.sorted() {
            let record = records[transaction]!
            transaction.encode(into: &writer)
            ParticipantPlan.encode(record.participants, into: &writer)
            writer.write(UInt8(record.outcome == nil ? 0 : 1))
            record.outcome?.encode(into: &writer)
            writer.write(record.begunAt.rawValue)
        }
        return writer.bytes
    }

    /// A shard's state from a snapshot's bytes.
    public static func restore(_ bytes: [UInt8], options: Options = Options()) throws(DecodeError) -> ShardStateMachine {
        var reader = ByteReader(bytes)
        let version = try reader.readUInt8()
        guard version == snapshotVersion || version == 1 else { throw .invalid("unknown shard snapshot version \(version)") }
        let applied = LogIndex(try reader.readUInt64())
        let id = ShardID(try reader.readUInt32())
        let range = try KeySpan.decode(from: &reader)
        let generation = try reader.readUInt64()
        let state = ShardStateMachine(id: id, range: range, generation: generation, options: options)
        state.appliedIndex = applied
        state.maxTimestamp = try HybridTimestamp.decode(from: &reader)
        state.unpreparedCommits = Int(try reader.readUInt64())
        state.commitsBelowPrepare = Int(try reader.readUInt64())
        let keyCount = Int(try reader.readUInt32())
        guard keyCount <= bytes.count else { throw .invalid("\(keyCount) keys in \(bytes.count) bytes") }
        for _ in 0..<keyCount {
            let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
            let value = try reader.readLengthPrefixed(maximumCount: TransactionLimits.listBytesMax)
            state.data[key] = Version(value: value, timestamp: try HybridTimestamp.decode(from: &reader))
        }
        let sessionCount = Int(try reader.readUInt32())
        guard sessionCount <= bytes.count else { throw .invalid("\(sessionCount) sessions in \(bytes.count) bytes") }
        for _ in 0..<sessionCount {
            let client = try reader.readUInt64()
            let sequence = try reader.readUInt64()
            let appliedAt = LogIndex(try reader.readUInt64())
            state.sessions[client] = Session(lastSequence: sequence, outcome: try TransactionOutcome.decode(from: &reader),
                appliedAt: appliedAt)
        }
        let finishedCount = Int(try reader.readUInt32())
        guard finishedCount <= bytes.count else { throw .invalid("\(finishedCount) clients in \(bytes.count) bytes") }
        for _ in 0..<finishedCount {
            let client = try reader.readUInt64()
            state.finished[client] = try reader.readUInt64()
        }
        let preparedCount = Int(try reader.readUInt32())
        guard preparedCount <= bytes.count else { throw .invalid("\(preparedCount) prepared in \(bytes.count) bytes") }
        for _ in 0..<preparedCount {
            let transaction = try TransactionID.decode(from: &reader)
            let coordinator = ShardID(try reader.readUInt32())
            let lockCount = Int(try reader.readUInt32())
            guard lockCount <= TransactionLimits.operationsMax else { throw .invalid("\(lockCount) locks") }
            var lockKeys: [(key: [UInt8], exclusive: Bool)] = []
            for _ in 0..<lockCount {
                let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
                lockKeys.append((key, try reader.readUInt8() == 1))
            }
            var lockRanges: [KeySpan] = []
            if version >= 2 {
                let rangeCount = Int(try reader.readUInt32())
                guard rangeCount <= TransactionLimits.operationsMax else { throw .invalid("\(rangeCount) range locks") }
                for _ in 0..<rangeCount { lockRanges.append(try KeySpan.decode(from: &reader)) }
            }
            let writeCount = Int(try reader.readUInt32())
            guard writeCount <= TransactionLimits.operationsMax else { throw .invalid("\(writeCount) writes") }
            var writes: [(key: [UInt8], value: [UInt8]?)] = []
            for _ in 0..<writeCount {
                let key = try reader.readLengthPrefixed(maximumCount: TransactionLimits.keyBytesMax)
                writes.append((key, try reader.readOptionalBytes(maximumCount: TransactionLimits.listBytesMax)))
            }
            guard case let .committed(timestamp, reads) = try TransactionOutcome.decode(from: &reader) else {
                throw .invalid("a prepared transaction without its timestamp")
            }
            let preparedAt = LogIndex(try reader.readUInt64())
            state.prepared[transaction] = Prepared(coordinator: coordinator, locks: lockKeys, rangeLocks: lockRanges,
                writes: writes, reads: reads, timestamp: timestamp, preparedAt: preparedAt)
            if !options.releaseLocksEarly {
                guard state.locks.conflict(for: transaction, keys: lockKeys, ranges: lockRanges) == nil else {
                    throw .invalid("prepared transactions hold conflicting locks")
                }
                state.locks.acquire(for: transaction, keys: lockKeys, ranges: lockRanges)
            }
        }
        let recordCount = Int(try reader.readUInt32())
        guard recordCount <= bytes.count else { throw .invalid("\(recordCount) records in \(bytes.count) bytes") }
        for _ in 0..<recordCount {
            let transaction = try TransactionID.decode(from: &reader)
            let participants = try ParticipantPlan.decodeList(from: &reader)
            let decided = try reader.readUInt8()
            guard decided <= 1 else { throw .invalid("bad decision flag") }
            let outcome = decided == 1 ? try TransactionOutcome.decode(from: &reader) : nil
            state.records[transaction] = Record(participants: participants, outcome: outcome,
                begunAt: LogIndex(try reader.readUInt64()))
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes in a shard snapshot") }
        return state
    }

    /// A digest of the whole state, equal on replicas that hold the same state.
    public var digest: UInt64 { StableHash64.digest(snapshot()) }
}

/// What applying an entry produced, for the leader to act on.
public enum ShardEffect: Sendable, Equatable {
    /// A one-phase transaction ended (or a retry of any was answered from the session).
    case executed(TransactionID, TransactionOutcome)
    /// A request named a key this shard does not hold; nothing was applied.
    case staleMap(TransactionID, ShardStateMachine.DescriptorFields)
    /// This shard coordinates a pending transaction: the leader asks its participants.
    case coordinating(TransactionID)
    /// A coordinated transaction is decided: answer the client, tell the participants.
    case decided(TransactionID, TransactionOutcome)
    /// A decision about a transaction this shard holds no record of (forgotten: every
    /// participant applied it, so a participant still holding it holds a duplicate).
    case decisionUnknown(TransactionID)
    /// This shard's vote as a participant, for its coordinator.
    case voted(TransactionID, coordinator: ShardID, Vote)
    /// This shard applied a decision as a participant: acknowledge it to the coordinator.
    case finished(TransactionID, coordinator: ShardID)
    /// The shard split: the right half, to be created on this node from `rightState`.
    case split(left: ShardStateMachine.DescriptorFields, right: ShardStateMachine.DescriptorFields, rightState: [UInt8])
    case splitRefused(String)
}
