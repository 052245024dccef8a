/// A client's last applied request on the sharded store, kept in the key space itself:
/// the key `0x06` + the client id (8 bytes, big-endian) holds the request's sequence
/// number, when it was written and what it answered. A request with an
/// `X-Aegis-Request-Id` writes its record in the same transaction as its writes,
/// conditioned on the record it read, so a retry — even one racing the original, or
/// reaching a shard that split or moved since — finds the record and replays the answer
/// instead of applying again. The per-shard sessions cannot promise that: they stay
/// with the shard that saw the request, and a retried abort clears their hold.
///
/// Records older than `keptMilliseconds` may be swept away (`expired`); a retry later
/// than that runs again.
public struct RequestRecord: Equatable, Sendable {
    public static let keyPrefix: UInt8 = 0x06
    public static let keptMilliseconds: Int64 = 15 * 60 * 1000
    /// An answer larger than this is kept without its rows (a write's answer is its
    /// count of rows changed; its rows are a SELECT's, which is not recorded anyway).
    public static let answerBytesMax = 8 * 1024

    public var sequence: UInt64
    public var writtenAtMilliseconds: Int64
    public var answer: KVResult

    public init(sequence: UInt64, writtenAtMilliseconds: Int64, answer: KVResult) {
        self.sequence = sequence
        self.writtenAtMilliseconds = writtenAtMilliseconds
        self.answer = answer
    }

    /// Every record lies in `[0x06, 0x07)`.
    public static var span: KeySpan { KeySpan(start: [keyPrefix], end: [keyPrefix + 1]) }

    public static func key(client: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(keyPrefix)
        for shift in stride(from: 56, through: 0, by: -8) { writer.write(UInt8(truncatingIfNeeded: client >> UInt64(shift))) }
        return writer.bytes
    }

    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(UInt8(1))
        writer.write(sequence)
        writer.write(UInt64(bitPattern: writtenAtMilliseconds))
        var answerWriter = ByteWriter()
        KVCodec.encode(answer, into: &answerWriter)
        if answerWriter.bytes.count > RequestRecord.answerBytesMax, case let .sql(results, error) = answer {
            answerWriter = ByteWriter()
            let slim = results.map { QueryResult(columns: [], rows: [], rowsAffected: $0.rowsAffected) }
            KVCodec.encode(.sql(slim, error: error), into: &answerWriter)
        }
        writer.write(lengthPrefixed: answerWriter.bytes)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> RequestRecord {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == 1 else { throw .invalid("unknown request record format") }
        let sequence = try reader.readUInt64()
        let written = Int64(bitPattern: try reader.readUInt64())
        var answerReader = ByteReader(try reader.readLengthPrefixed(maximumCount: KVLimits.sqlReplyBytesMax))
        let answer = try KVCodec.decodeResult(from: &answerReader)
        guard answerReader.isAtEnd, reader.isAtEnd else { throw .invalid("trailing bytes after a request record") }
        return RequestRecord(sequence: sequence, writtenAtMilliseconds: written, answer: answer)
    }

    /// What a request of `sequence` does, given its client's stored record.
    public enum Verdict: Equatable, Sendable {
        /// Not applied yet: run it, writing a new record with its writes.
        case run
        /// Applied already: answer this, write nothing.
        case replay(KVResult)
        /// A later request of the client was applied: refuse.
        case stale
    }

    public static func verdict(stored: [UInt8]?, sequence: UInt64) -> Verdict {
        guard let stored, let record = try? RequestRecord.decode(stored) else { return .run }
        if record.sequence == sequence { return .replay(record.answer) }
        return record.sequence > sequence ? .stale : .run
    }

    public static let staleMessage = "a later request with this X-Aegis-Request-Id client was already applied; use a new sequence"

    /// Whether a stored record may be swept at `nowMilliseconds`.
    public static func expired(_ stored: [UInt8], nowMilliseconds: Int64) -> Bool {
        guard let record = try? RequestRecord.decode(stored) else { return true }
        return nowMilliseconds - record.writtenAtMilliseconds > keptMilliseconds
    }
}
