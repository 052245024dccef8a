import Aegis
import Foundation
import Testing
@testable import Runtime

/// The `/api/v1/kv/txn` body: parsing with one-sentence errors, and the operations run
/// in order over the entries the keys hold.
@Suite struct KVTransactionTests {
    private func parse(_ json: String) throws -> KVTransaction {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try KVTransaction(object)
    }

    private func entry(_ key: String, _ valueJSON: String) -> KVEntry {
        KVEntry(key: key, valueJSON: valueJSON, ttlSeconds: nil, createdMilliseconds: 5, updatedMilliseconds: 5)
    }

    @Test func aTransferMovesMoneyAndReadsSeeEarlierWrites() throws {
        let transaction = try parse("""
            {"operations":[{"op":"add","key":"a","delta":-30,"min":0},{"op":"add","key":"b","delta":30},
                           {"op":"get","key":"a"},{"op":"get","key":"b"},{"op":"put","key":"c","value":{"x":1},"ttl":60},
                           {"op":"expect","key":"c","value":{"x":1}},{"op":"delete","key":"d"}]}
            """)
        #expect(transaction.keys == ["a", "b", "c", "d"])
        let (entries, reads) = try transaction.evaluate([entry("a", "100"), nil, nil, entry("d", "\"gone\"")], nowMilliseconds: 9)
        #expect(entries[0]?.valueJSON == "70" && entries[0]?.createdMilliseconds == 5 && entries[0]?.updatedMilliseconds == 9)
        #expect(entries[1]?.valueJSON == "30", "an absent key adds from 0")
        #expect(entries[2]?.valueJSON == "{\"x\":1}" && entries[2]?.ttlSeconds == 60)
        #expect(entries[3] == nil)
        #expect(reads.map(\.key) == ["a", "b"] && reads.map(\.valueJSON) == ["70", "30"])
    }

    @Test func conditionsThatFailNameTheKeyAndWhatItHolds() throws {
        let overdraft = try parse(#"{"operations":[{"op":"add","key":"a","delta":-300,"min":0},{"op":"add","key":"b","delta":300}]}"#)
        #expect(throws: KVTransaction.ConditionFailed.self) { try overdraft.evaluate([entry("a", "100"), nil], nowMilliseconds: 1) }
        do {
            _ = try overdraft.evaluate([entry("a", "100"), nil], nowMilliseconds: 1)
        } catch {
            #expect(error.key == "a" && error.currentJSON == "100" && error.reason.contains("below the minimum 0"))
        }
        let expectAbsent = try parse(#"{"operations":[{"op":"expect","key":"a","value":null}]}"#)
        #expect(throws: KVTransaction.ConditionFailed.self) { try expectAbsent.evaluate([entry("a", "1")], nowMilliseconds: 1) }
        #expect(try expectAbsent.evaluate([nil], nowMilliseconds: 1).reads.isEmpty)
        let addToText = try parse(#"{"operations":[{"op":"add","key":"a","delta":1}]}"#)
        #expect(throws: KVTransaction.ConditionFailed.self) { try addToText.evaluate([entry("a", "\"ten\"")], nowMilliseconds: 1) }
        let overflow = try parse(#"{"operations":[{"op":"add","key":"a","delta":1}]}"#)
        #expect(throws: KVTransaction.ConditionFailed.self) { try overflow.evaluate([entry("a", "8999999999999999")], nowMilliseconds: 1) }
    }

    @Test func badBodiesGetOneSentence() {
        let cases: [(String, String)] = [
            (#"{}"#, "needs \"operations\""),
            (#"{"operations":[]}"#, "non-empty"),
            (#"{"operations":[{"key":"a"}]}"#, "needs \"op\""),
            (#"{"operations":[{"op":"get"}]}"#, "needs \"key\""),
            (#"{"operations":[{"op":"frob","key":"a"}]}"#, "unknown op 'frob'"),
            (#"{"operations":[{"op":"add","key":"a","delta":1.5}]}"#, "\"delta\": a whole number"),
            (#"{"operations":[{"op":"add","key":"a","delta":true}]}"#, "\"delta\": a whole number"),
            (#"{"operations":[{"op":"add","key":"a","delta":1,"min":"x"}]}"#, "\"min\" must be a whole number"),
            (#"{"operations":[{"op":"expect","key":"a"}]}"#, "needs \"value\""),
            (#"{"operations":[{"op":"put","key":"a"}]}"#, "needs \"value\""),
        ]
        for (body, expected) in cases {
            do {
                _ = try parse(body)
                Issue.record("\(body) was accepted")
            } catch let error as APIError {
                #expect(error.message.contains(expected), "\(body) gave: \(error.message)")
            } catch {
                Issue.record("\(body) gave \(error)")
            }
        }
        let many = "{\"operations\":[" + (0...KVTransaction.operationsMax).map { "{\"op\":\"get\",\"key\":\"k\($0)\"}" }.joined(separator: ",") + "]}"
        #expect(throws: APIError.self) { try parse(many) }
    }
}
