import Aegis
import Foundation

/// A key-value entry as the REST API stores it: the value (any JSON), its time to
/// live, when it was created and last updated, and when it expires. Stored in the
/// replicated state machine as compact JSON text, so every node reads the same bytes.
struct KVEntry: Equatable {
    var key: String
    /// The value as JSON text (an object, array, string, number, boolean or null).
    var valueJSON: String
    var ttlSeconds: Int?
    var createdMilliseconds: Int64
    var updatedMilliseconds: Int64

    var expiresMilliseconds: Int64? {
        ttlSeconds.map { updatedMilliseconds + Int64($0) * 1000 }
    }

    func isExpired(nowMilliseconds: Int64) -> Bool {
        expiresMilliseconds.map { nowMilliseconds >= $0 } ?? false
    }

    /// The stored form.
    var stored: [UInt8] {
        var text = "{\"c\":\(createdMilliseconds),\"u\":\(updatedMilliseconds)"
        if let ttlSeconds { text += ",\"t\":\(ttlSeconds)" }
        text += ",\"v\":" + valueJSON + "}"
        return Array(text.utf8)
    }

    static func decode(key: String, stored bytes: [UInt8]) -> KVEntry? {
        if let fast = decodeOwnLayout(key: key, stored: bytes) { return fast }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? [String: Any],
              let created = (object["c"] as? NSNumber)?.int64Value,
              let updated = (object["u"] as? NSNumber)?.int64Value,
              let value = object["v"]
        else { return nil }
        let ttl = (object["t"] as? NSNumber)?.intValue
        guard let valueJSON = JSONText.encode(value) else { return nil }
        return KVEntry(key: key, valueJSON: valueJSON, ttlSeconds: ttl, createdMilliseconds: created, updatedMilliseconds: updated)
    }

    /// The layout `stored` writes — `{"c":N,"u":N[,"t":N],"v":VALUE}` — read without a
    /// JSON parser; nil for anything else (then the general parser decides).
    private static func decodeOwnLayout(key: String, stored bytes: [UInt8]) -> KVEntry? {
        var index = 0
        func expect(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
            index += count
            return true
        }
        func number() -> Int64? {
            var value: Int64 = 0
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57, index - start < 18 {
                value = value * 10 + Int64(bytes[index] - 48)
                index += 1
            }
            return index > start ? value : nil
        }
        guard expect("{\"c\":"), let created = number(), expect(",\"u\":"), let updated = number() else { return nil }
        var ttl: Int?
        if expect(",\"t\":") {
            guard let value = number() else { return nil }
            ttl = Int(value)
        }
        guard expect(",\"v\":"), bytes.last == UInt8(ascii: "}"), index < bytes.count - 1 else { return nil }
        let value = String(decoding: bytes[index..<(bytes.count - 1)], as: UTF8.self)
        return KVEntry(key: key, valueJSON: value, ttlSeconds: ttl, createdMilliseconds: created, updatedMilliseconds: updated)
    }

    /// The entry as the API returns it, as JSON text (keys sorted, like every answer).
    var jsonText: String {
        "{\"created_at\":\"" + Timestamp.iso8601(milliseconds: createdMilliseconds) + "\",\"key\":" + JSONText.quote(key)
            + ",\"ttl\":" + (ttlSeconds.map(String.init) ?? "null")
            + ",\"updated_at\":\"" + Timestamp.iso8601(milliseconds: updatedMilliseconds) + "\",\"value\":" + valueJSON + "}"
    }
}

enum JSONText {
    static func encode(_ value: Any) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// A string as a JSON string literal.
    static func quote(_ text: String) -> String { JSONString.quote(text) }
}

enum Timestamp {
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// RFC 3339 in UTC with milliseconds, like `2026-11-25T09:30:00.123Z` (the civil
    /// date from `CivilCalendar`; no formatter, no locale).
    static func iso8601(milliseconds: Int64) -> String {
        let millisecondsPerDay: Int64 = 86_400_000
        var days = milliseconds / millisecondsPerDay
        var rest = milliseconds % millisecondsPerDay
        if rest < 0 {
            rest += millisecondsPerDay
            days -= 1
        }
        let (year, month, day) = CivilCalendar.date(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(rest / 3_600_000, 2) + ":"
            + pad(rest / 60_000 % 60, 2) + ":" + pad(rest / 1000 % 60, 2) + "." + pad(rest % 1000, 3) + "Z"
    }
}
