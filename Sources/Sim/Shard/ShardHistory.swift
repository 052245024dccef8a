import Aegis

/// Every transaction the sharded workload's clients ran, in the order they began: its
/// operations and how it ended (committed with its reads and timestamp, aborted, or
/// unknown when the client never learned).
final class ShardHistory {
    enum Outcome: Equatable {
        case committed(timestamp: HybridTimestamp, reads: [TransactionRead])
        case aborted(AbortReason)
        case unknown
    }

    struct Entry {
        var transaction: TransactionID
        var operations: [TransactionOperation]
        var invokedAtNanoseconds: UInt64
        var completedAtNanoseconds: UInt64?
        /// nil while running (and at the end, for one still running: unknown).
        var outcome: Outcome?
    }

    private(set) var entries: [Entry] = []

    func invoke(_ transaction: TransactionID, _ operations: [TransactionOperation], at time: UInt64) -> Int {
        entries.append(Entry(transaction: transaction, operations: operations, invokedAtNanoseconds: time))
        return entries.count - 1
    }

    func complete(_ index: Int, _ outcome: Outcome, at time: UInt64) {
        precondition(entries[index].outcome == nil, "a transaction completes once")
        entries[index].outcome = outcome
        entries[index].completedAtNanoseconds = time
    }

    var committed: Int { entries.filter { if case .committed = $0.outcome { return true } else { return false } }.count }
    var aborted: Int { entries.filter { if case .aborted = $0.outcome { return true } else { return false } }.count }
    var unknown: Int { entries.filter { $0.outcome == nil || $0.outcome == .unknown }.count }

    /// One JSON object per transaction, for `--history`.
    var jsonLines: [String] {
        entries.map { entry in
            let operations = entry.operations.map { operation -> String in
                switch operation {
                case let .get(key): return "[\"r\", \"\(KVText.show(key))\"]"
                case let .append(key, element): return "[\"append\", \"\(KVText.show(key))\", \(element)]"
                case let .add(key, delta, _): return "[\"add\", \"\(KVText.show(key))\", \(delta)]"
                case let .put(key, _): return "[\"put\", \"\(KVText.show(key))\"]"
                case let .delete(key): return "[\"delete\", \"\(KVText.show(key))\"]"
                case let .expect(key, _): return "[\"expect\", \"\(KVText.show(key))\"]"
                case let .expectRange(start, end, count, _):
                    return "[\"expect-range\", \"\(KVText.show(start))\", \"\(end.map { KVText.show($0) } ?? "")\", \(count)]"
                }
            }.joined(separator: ", ")
            let outcome: String
            switch entry.outcome {
            case let .committed(timestamp, reads)?:
                let values = reads.map { read in
                    "[\(read.operation), " + (read.value.map { bytes in
                        IntegerList.decode(bytes).map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "null"
                    } ?? "null") + "]"
                }.joined(separator: ", ")
                outcome = "\"type\": \"ok\", \"ts\": \"\(timestamp)\", \"reads\": [\(values)]"
            case let .aborted(reason)?:
                outcome = "\"type\": \"fail\", \"reason\": \"\(reason)\""
            case .unknown?, nil:
                outcome = "\"type\": \"info\""
            }
            return "{\"process\": \(entry.transaction.client), \"sequence\": \(entry.transaction.sequence), "
                + "\"value\": [\(operations)], \(outcome), \"time\": \(entry.invokedAtNanoseconds)}"
        }
    }
}
