import Aegis
import Foundation
import Sim

/// File access for the CLI. The simulator never touches files; the CLI reads text and
/// hands it in, and writes what comes out.
enum CLIFiles {
    static func readText(_ path: String, what: String) throws(CLIFailure) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                throw .badInput("\(path): cannot read the \(what)\(isDirectory.boolValue ? " (it is a directory)" : ""); give a readable file")
            }
            throw .badInput("\(path): no such \(what); check the path")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .badInput("\(path): the \(what) is not UTF-8 text")
        }
        return text
    }

    static func writeText(_ text: String, to path: String, what: String = "the trace") throws(CLIFailure) {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw CLIFailure(code: AegisExitCode.badInput, message: "\(path): cannot write \(what) (\(error.localizedDescription)); check the directory")
        }
    }

    static func loadScenario(_ path: String) throws(CLIFailure) -> Scenario {
        let text = try readText(path, what: "scenario file")
        do {
            return try ScenarioParser.parse(text: text, file: path)
        } catch {
            throw .badInput(error.description)
        }
    }

    /// Identifies the program that made a trace: version, optimisation, and a digest of
    /// the executable, so a replay on other code can say so.
    static let buildIdentity: String = {
        #if DEBUG
        let mode = "debug"
        #else
        let mode = "release"
        #endif
        var digest = "unknown"
        if let data = FileManager.default.contents(atPath: "/proc/self/exe") {
            digest = fastDigest(data).hex16
        }
        return "aegis \(AegisCommand.version) \(mode) exe:\(digest)"
    }()

    private static func fastDigest(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { raw in
            var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(raw.count)
            let words = raw.count / 8
            for index in 0..<words {
                let word = raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                hash = (hash ^ word) &* 0x0000_0100_0000_01B3
                hash ^= hash >> 29
            }
            for index in (words * 8)..<raw.count {
                hash = (hash ^ UInt64(raw[index])) &* 0x0000_0100_0000_01B3
            }
            return StableHash64.avalanche(hash)
        }
    }
}
