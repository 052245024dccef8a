import Foundation

/// SQLite (Python's sqlite3 module) as an oracle: a Python script reads JSON lines on
/// standard input and prints one answer line per input line.
enum SQLiteOracle {
    static func answers(script: String, inputs: [Any]) throws -> [Substring] {
        let lines = inputs.map { input -> String in
            let data = try! JSONSerialization.data(withJSONObject: [input], options: [])
            let array = String(decoding: data, as: UTF8.self)
            return String(array.dropFirst().dropLast())
        }
        // The input goes through a file: a pipe both ways could fill and deadlock.
        let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-sqlite-oracle-\(UUID().uuidString).jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: inputFile)
        defer { try? FileManager.default.removeItem(at: inputFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let output = Pipe()
        process.standardInput = try FileHandle(forReadingFrom: inputFile)
        process.standardOutput = output
        try process.run()
        let answers = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false)
        process.waitUntilExit()
        return answers
    }
}
