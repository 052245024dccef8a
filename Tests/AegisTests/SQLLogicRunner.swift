import Foundation
@testable import Aegis

/// Runs sqllogictest files (SQLite's format) against an Aegis database in memory:
/// `statement ok|error [text]`, `query TYPES [nosort|rowsort|valuesort]` with expected
/// values one per line or `N values hashing to MD5`, `hash-threshold N`, `halt`,
/// `skipif ENGINE` / `onlyif ENGINE` (this engine is `aegis`). Values print as the
/// reference runner prints them: NULL, (empty), integers for I, %.3f for R, text for T.
struct SQLLogicRunner {
    struct Failure: CustomStringConvertible {
        var file: String
        var line: Int
        var message: String
        var description: String { "\(file):\(line): \(message)" }
    }

    private(set) var failures: [Failure] = []
    private(set) var recordsRun = 0

    mutating func run(_ text: String, file: String) {
        let database = SQLDatabase(store: MVCCStore(backend: MemoryBackend()))
        let session = database.session()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        var index = 0
        var conditions: [(String, String)] = []
        var threshold = 0
        func blank(_ line: String) -> Bool { line.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" } }
        while index < lines.count {
            let line = lines[index]
            if blank(line) || line.hasPrefix("#") {
                index += 1
                continue
            }
            let words = line.split(separator: " ").map(String.init)
            if words[0] == "skipif" || words[0] == "onlyif" {
                conditions.append((words[0], words.count > 1 ? words[1] : ""))
                index += 1
                continue
            }
            let applies = conditions.allSatisfy { kind, engine in kind == "onlyif" ? engine == "aegis" : engine != "aegis" }
            conditions = []
            if words[0] == "halt" {
                if applies { return }
                index += 1
                continue
            }
            if words[0] == "hash-threshold" {
                threshold = Int(words.count > 1 ? words[1] : "0") ?? 0
                index += 1
                continue
            }
            let recordLine = index + 1
            index += 1
            var sql: [String] = []
            while index < lines.count, !blank(lines[index]), lines[index].trimmingSpaces != "----" {
                sql.append(lines[index])
                index += 1
            }
            var expected: [String]?
            if index < lines.count, lines[index].trimmingSpaces == "----" {
                index += 1
                var values: [String] = []
                while index < lines.count, !blank(lines[index]) {
                    values.append(lines[index])
                    index += 1
                }
                expected = values
            }
            guard applies else { continue }
            let statementText = sql.joined(separator: "\n")
            func fail(_ message: String) { failures.append(Failure(file: file, line: recordLine, message: message)) }
            recordsRun += 1
            switch words[0] {
            case "statement":
                let (_, error) = session.executeAll(statementText)
                let mode = words.count > 1 ? words[1] : "ok"
                if mode == "ok", let error {
                    fail("statement failed: \(error)")
                } else if mode == "error" {
                    if error == nil {
                        fail("statement succeeded but should fail")
                    } else if words.count > 2 {
                        let wanted = words[2...].joined(separator: " ")
                        if !error!.description.contains(wanted) { fail("error \"\(error!)\" does not contain \"\(wanted)\"") }
                    }
                }
            case "query":
                let types = Array(words.count > 1 ? words[1] : "")
                let sortMode = words.count > 2 ? words[2] : "nosort"
                let (results, error) = session.executeAll(statementText)
                if let error {
                    fail("query failed: \(error)")
                    continue
                }
                var values = SQLLogicRunner.values(results.last?.rows ?? [], types: types, sortMode: sortMode)
                if threshold > 0 && values.count > threshold {
                    values = ["\(values.count) values hashing to \(MD5.hex(values.map { $0 + "\n" }.joined()))"]
                }
                if values != (expected ?? []) {
                    fail("got \(values.prefix(12)) but expected \((expected ?? []).prefix(12))")
                }
            default:
                fail("unknown record '\(words[0])'")
            }
        }
    }

    static func values(_ rows: [[SQLValue]], types: [Character], sortMode: String) -> [String] {
        var rendered = rows.map { row in
            row.enumerated().map { index, value in render(value, index < types.count ? types[index] : "T") }
        }
        if sortMode == "rowsort" { rendered.sort { $0.lexicographicallyPrecedes($1) } }
        var values = rendered.flatMap { $0 }
        if sortMode == "valuesort" { values.sort() }
        return values
    }

    static func render(_ value: SQLValue, _ type: Character) -> String {
        if value.isNull { return "NULL" }
        switch type {
        case "I":
            switch value {
            case let .integer(number): return String(number)
            case let .real(number): return String(Int64(number.rounded(.towardZero)))
            default: return String(Evaluator.integerPrefix(value.description))
            }
        case "R":
            let number = value.asDouble
            return formatThreeDecimals(number)
        default:
            let text = value.description
            if text.isEmpty { return "(empty)" }
            return String(text.unicodeScalars.map { ($0.value >= 32 && $0.value <= 126) || $0.value > 127 ? Character($0) : "@" })
        }
    }

    /// printf's "%.3f".
    static func formatThreeDecimals(_ number: Double) -> String {
        String(format: "%.3f", number)
    }
}

/// MD5 (RFC 1321), for sqllogictest's result hashes only.
enum MD5 {
    static func hex(_ text: String) -> String {
        var message = Array(text.utf8)
        let bitLength = UInt64(message.count) * 8
        message.append(0x80)
        while message.count % 64 != 56 { message.append(0) }
        for shift in stride(from: 0, to: 64, by: 8) { message.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        let shifts: [UInt32] = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21]
        let constants: [UInt32] = (0..<64).map { UInt32(truncatingIfNeeded: Int64(abs(sin(Double($0 + 1))) * 4_294_967_296)) }
        var a0: UInt32 = 0x67452301, b0: UInt32 = 0xefcdab89, c0: UInt32 = 0x98badcfe, d0: UInt32 = 0x10325476
        for chunk in stride(from: 0, to: message.count, by: 64) {
            var words = [UInt32](repeating: 0, count: 16)
            for index in 0..<16 {
                for byte in 0..<4 { words[index] |= UInt32(message[chunk + index * 4 + byte]) << UInt32(byte * 8) }
            }
            var a = a0, b = b0, c = c0, d = d0
            for index in 0..<64 {
                var f: UInt32
                let g: Int
                switch index {
                case 0..<16: f = (b & c) | (~b & d); g = index
                case 16..<32: f = (d & b) | (~d & c); g = (5 * index + 1) % 16
                case 32..<48: f = b ^ c ^ d; g = (3 * index + 5) % 16
                default: f = c ^ (b | ~d); g = (7 * index) % 16
                }
                f = f &+ a &+ constants[index] &+ words[g]
                a = d
                d = c
                c = b
                b = b &+ ((f << shifts[index]) | (f >> (32 - shifts[index])))
            }
            a0 = a0 &+ a; b0 = b0 &+ b; c0 = c0 &+ c; d0 = d0 &+ d
        }
        return [a0, b0, c0, d0].map { word in
            (0..<4).map { byte in
                let value = UInt8(truncatingIfNeeded: word >> UInt32(byte * 8))
                let text = String(value, radix: 16)
                return value < 16 ? "0" + text : text
            }.joined()
        }.joined()
    }
}
