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
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? [String: Any],
              let created = (object["c"] as? NSNumber)?.int64Value,
              let updated = (object["u"] as? NSNumber)?.int64Value,
              let value = object["v"]
        else { return nil }
        let ttl = (object["t"] as? NSNumber)?.intValue
        guard let valueJSON = JSONText.encode(value) else { return nil }
        return KVEntry(key: key, valueJSON: valueJSON, ttlSeconds: ttl, createdMilliseconds: created, updatedMilliseconds: updated)
    }

    /// The entry as the API returns it.
    var json: [String: Any] {
        [
            "key": key,
            "value": JSONText.decode(valueJSON) ?? NSNull(),
            "ttl": ttlSeconds.map { $0 as Any } ?? NSNull(),
            "created_at": Timestamp.iso8601(milliseconds: createdMilliseconds),
            "updated_at": Timestamp.iso8601(milliseconds: updatedMilliseconds),
        ]
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
}

enum Timestamp {
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// RFC 3339 in UTC with milliseconds, like `2026-11-25T09:30:00.123Z`.
    static func iso8601(milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
