import AegisClient
import ArgumentParser
import Foundation

/// `aegis kv get|set|delete|list|cas` against live nodes.
struct KVCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Read and write keys on a live cluster.",
        discussion: "Values are JSON; a value that is not valid JSON is stored as a string.",
        subcommands: [KVGet.self, KVSet.self, KVDelete.self, KVList.self, KVCas.self]
    )
}

/// A value from the command line: JSON when it parses, else the text as a JSON string.
func jsonArgument(_ text: String) -> String {
    if (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil { return text }
    return AegisClient.encodeJSON(text)
}

struct KVGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Print one key's entry.")
    @Argument(help: "The key.") var key: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let entry = try await options.withClient { client in try await client.get(key) }
        guard let entry else { throw CLIFailure(code: LiveExitCode.refused, message: "key '\(key)' does not exist") }
        Output.entries([entry], format: options.format)
    }
}

struct KVSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Set a key to a value.")
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value: JSON (like 42, true, {\"a\":1}) or any text, stored as a string.") var value: String
    @Option(help: "Time to live in seconds; the key disappears after it.") var ttl: Int?
    @OptionGroup var options: ClientOptions

    func run() async throws {
        if let ttl, ttl < 1 { throw CLIFailure.badInput("--ttl must be at least 1 second") }
        let entry = try await options.withClient { client in try await client.set(key, valueJSON: jsonArgument(value), ttl: ttl) }
        Output.entries([entry], format: options.format)
    }
}

struct KVDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key.")
    @Argument(help: "The key.") var key: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let existed = try await options.withClient { client in try await client.delete(key) }
        switch options.format {
        case .json: Output.json(["success": existed, "key": key])
        case .table: print(existed ? "deleted \(key)" : "\(key) did not exist")
        }
    }
}

struct KVList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys in order, by prefix.")
    @Option(help: "Only keys starting with this.") var prefix: String = ""
    @Option(help: "At most this many (1 to 1000, default 100).") var limit: Int = 100
    @OptionGroup var options: ClientOptions

    func run() async throws {
        guard (1...1000).contains(limit) else { throw CLIFailure.badInput("--limit must be from 1 to 1000") }
        let (entries, total) = try await options.withClient { client in try await client.list(prefix: prefix, limit: limit) }
        Output.entries(entries, format: options.format, total: total)
    }
}

struct KVCas: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cas", abstract: "Set a key only if it holds an expected value.",
        discussion: "Exit code 1 when the key held something else; the current value is printed.")
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value it must hold now (JSON or text); use --absent instead when it must not exist.") var expected: String?
    @Argument(help: "The new value (JSON or text).") var value: String?
    @Flag(help: "The key must not exist now (give only KEY and the new value).") var absent = false
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let expectedJSON: String?
        let newJSON: String
        if absent {
            guard let only = expected, value == nil else { throw CLIFailure.badInput("with --absent give KEY and the new value only") }
            expectedJSON = nil
            newJSON = jsonArgument(only)
        } else {
            guard let expected, let value else { throw CLIFailure.badInput("give KEY EXPECTED NEW, or KEY NEW with --absent") }
            expectedJSON = jsonArgument(expected)
            newJSON = jsonArgument(value)
        }
        let (swapped, current) = try await options.withClient { client in
            try await client.compareAndSet(key, expectedJSON: expectedJSON, valueJSON: newJSON)
        }
        switch options.format {
        case .json: Output.json(["success": swapped, "key": key, "current": current.map { $0 as Any } ?? NSNull()])
        case .table: print(swapped ? "swapped \(key)" : "not swapped: \(key) holds \(current ?? "nothing")")
        }
        if !swapped { throw CLIFailure(code: LiveExitCode.refused, message: "") }
    }
}
