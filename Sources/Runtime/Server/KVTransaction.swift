import Aegis
import Foundation

/// `POST /api/v1/kv/txn` on the sharded store: a list of operations on any keys, run
/// as one serializable transaction (two-phase commit when the keys live on several
/// shards), all or nothing.
///
///     {"operations": [
///       {"op": "get", "key": "a"},
///       {"op": "put", "key": "b", "value": <any JSON>, "ttl": 60},
///       {"op": "delete", "key": "c"},
///       {"op": "expect", "key": "d", "value": <JSON, or null for absent>},
///       {"op": "add", "key": "e", "delta": -5, "min": 0}
///     ]}
///
/// Operations apply in order, each seeing the ones before. `expect` fails the
/// transaction unless the key holds that value; `add` adds to an integer value (absent
/// is 0) and fails it when the result would fall below `min`. The answer is `{"success":
/// true, "reads": [{"key", "value"}…]}` (one per `get`, null when absent), or 409
/// `condition_failed` naming the key and what it holds, with nothing written.
struct KVTransaction {
    enum Operation {
        case get(key: String)
        case put(EntryInput)
        case delete(key: String)
        case expect(key: String, valueJSON: String?)
        case add(key: String, delta: Int64, minimum: Int64?)

        var key: String {
            switch self {
            case let .get(key), let .delete(key), let .expect(key, _), let .add(key, _, _): return key
            case let .put(input): return input.key
            }
        }
    }

    /// A condition that did not hold: the transaction is refused, nothing written.
    struct ConditionFailed: Error {
        var key: String
        var reason: String
        var currentJSON: String?
    }

    var operations: [Operation]

    /// Operations in one transaction: the keys are read first and then written each with
    /// an `expect` of what was read, so this many stay within one transaction's bound.
    static let operationsMax = ShardKVBackend.batchWriteKeysMax

    init(_ body: [String: Any]) throws {
        guard let list = body["operations"] as? [Any], !list.isEmpty else {
            throw APIError.badRequest("the body needs \"operations\": a non-empty array of {\"op\", \"key\", …}", code: "invalid_json")
        }
        guard list.count <= KVTransaction.operationsMax else {
            throw APIError.badRequest("a transaction holds at most \(KVTransaction.operationsMax) operations, not \(list.count); split it",
                code: "too_many_operations")
        }
        operations = try list.enumerated().map { index, item in
            let what = "operations[\(index)]"
            guard let object = item as? [String: Any], let op = object["op"] as? String else {
                throw APIError.badRequest("\(what) needs \"op\": get, put, delete, expect or add", code: "invalid_json")
            }
            guard let key = object["key"] as? String else {
                throw APIError.badRequest("\(what) needs \"key\": a string", code: "invalid_json")
            }
            _ = try KeyInput.bytes(key)
            switch op {
            case "get": return .get(key: key)
            case "put": return .put(try EntryInput(object, what: what))
            case "delete": return .delete(key: key)
            case "expect":
                guard object.keys.contains("value"), let value = object["value"] else {
                    throw APIError.badRequest("\(what) needs \"value\": the JSON value the key must hold, or null for absent", code: "invalid_json")
                }
                return .expect(key: key, valueJSON: value is NSNull ? nil : JSONText.encode(value))
            case "add":
                guard let delta = KVTransaction.integer(object["delta"]) else {
                    throw APIError.badRequest("\(what) needs \"delta\": a whole number", code: "invalid_json")
                }
                var minimum: Int64?
                if let raw = object["min"], !(raw is NSNull) {
                    guard let value = KVTransaction.integer(raw) else {
                        throw APIError.badRequest("\(what): \"min\" must be a whole number or null", code: "invalid_json")
                    }
                    minimum = value
                }
                return .add(key: key, delta: delta, minimum: minimum)
            default:
                throw APIError.badRequest("\(what): unknown op '\(op)'; use get, put, delete, expect or add", code: "invalid_json")
            }
        }
    }

    static func integer(_ value: Any?) -> Int64? {
        guard let number = value as? NSNumber else { return nil }
        let type = String(cString: number.objCType)
        guard type != "c", type != "B" else { return nil }
        let double = number.doubleValue
        guard double == double.rounded(), abs(double) < 9.0e15 else { return nil }
        return number.int64Value
    }

    /// Every key the transaction touches, each once, in first-use order.
    var keys: [String] {
        var seen: Set<String> = []
        return operations.map(\.key).filter { seen.insert($0).inserted }
    }

    /// Runs the operations over the entries the keys hold (`current`, nil when absent or
    /// expired, in `keys` order): the entries to store (nil deletes) and the reads.
    func evaluate(_ current: [KVEntry?], nowMilliseconds now: Int64) throws(ConditionFailed) -> (entries: [KVEntry?], reads: [(key: String, valueJSON: String?)]) {
        let keys = keys
        var working = current
        var reads: [(key: String, valueJSON: String?)] = []
        func position(_ key: String) -> Int { keys.firstIndex(of: key)! }
        for operation in operations {
            let index = position(operation.key)
            switch operation {
            case let .get(key):
                reads.append((key, working[index]?.valueJSON))
            case let .put(input):
                working[index] = KVEntry(key: input.key, valueJSON: input.valueJSON, ttlSeconds: input.ttlSeconds,
                    createdMilliseconds: working[index]?.createdMilliseconds ?? now, updatedMilliseconds: now)
            case .delete:
                working[index] = nil
            case let .expect(key, valueJSON):
                guard working[index]?.valueJSON == valueJSON else {
                    throw ConditionFailed(key: key, reason: "'\(key)' does not hold the expected value", currentJSON: working[index]?.valueJSON)
                }
            case let .add(key, delta, minimum):
                let held = working[index]
                guard let number = held.map({ KVTransaction.integer(JSONText.decode($0.valueJSON)) }) ?? 0 else {
                    throw ConditionFailed(key: key, reason: "'\(key)' does not hold a whole number, so add cannot change it", currentJSON: held?.valueJSON)
                }
                let (sum, overflow) = number.addingReportingOverflow(delta)
                guard !overflow, abs(sum) < 9_000_000_000_000_000 else {
                    throw ConditionFailed(key: key, reason: "adding \(delta) to '\(key)' leaves the range of whole numbers", currentJSON: held?.valueJSON)
                }
                if let minimum, sum < minimum {
                    throw ConditionFailed(key: key, reason: "adding \(delta) to '\(key)' would leave \(sum), below the minimum \(minimum)",
                        currentJSON: held?.valueJSON)
                }
                working[index] = KVEntry(key: key, valueJSON: String(sum), ttlSeconds: held?.ttlSeconds,
                    createdMilliseconds: held?.createdMilliseconds ?? now, updatedMilliseconds: now)
            }
        }
        return (working, reads)
    }
}
