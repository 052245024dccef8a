import AegisClient
import ArgumentParser
import Foundation

/// Exit codes of the commands that talk to live nodes.
enum LiveExitCode {
    static let done: Int32 = 0
    static let refused: Int32 = 1
    static let badInput: Int32 = 2
    static let unreachable: Int32 = 5
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// Options every live command shares: where the cluster is and how to print.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("endpoint"),
            help: "A node's URL, like http://127.0.0.1:9090; repeat it (or separate with commas) to name several. The CLI finds the leader.")
    var endpoints: [String] = []
    @Option(help: "table or json (default table).")
    var format: OutputFormat = .table
    @Option(name: .customLong("timeout-ms"), help: "How long one request may take, in milliseconds (default 10000).")
    var timeoutMilliseconds: Int = 10_000
    @Option(name: .customLong("ca-cert"), help: "A PEM file of the authority that signed the servers' certificates (https endpoints).")
    var certificateAuthority: String?

    func parsedEndpoints() throws -> [Endpoint] {
        let texts = endpoints.flatMap { $0.split(separator: ",").map(String.init) }
        guard !texts.isEmpty else { return [try Endpoint(parsing: "http://127.0.0.1:9090")] }
        do {
            return try texts.map { text throws(ClientError) in try Endpoint(parsing: text) }
        } catch {
            throw CLIFailure.badInput(error.description)
        }
    }

    func makeClient() throws -> AegisClient {
        guard (100...600_000).contains(timeoutMilliseconds) else {
            throw CLIFailure.badInput("--timeout-ms must be from 100 to 600000")
        }
        if let certificateAuthority, !FileManager.default.isReadableFile(atPath: certificateAuthority) {
            throw CLIFailure.badInput("cannot read --ca-cert \(certificateAuthority); give the path of a PEM file")
        }
        return try AegisClient(endpoints: try parsedEndpoints(), requestTimeoutMilliseconds: timeoutMilliseconds,
                               certificateAuthorityFile: certificateAuthority)
    }

    /// Runs `body` with a client, shutting it down after, and maps client errors to
    /// one line and an exit code.
    func withClient<T>(_ body: (AegisClient) async throws -> T) async throws -> T {
        let client = try makeClient()
        do {
            let result = try await body(client)
            try? await client.shutdown()
            return result
        } catch let error as ClientError {
            try? await client.shutdown()
            throw CLIFailure.from(error)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

extension CLIFailure {
    static func from(_ error: ClientError) -> CLIFailure {
        switch error {
        case .unreachable: return CLIFailure(code: LiveExitCode.unreachable, message: error.description)
        case .invalidEndpoint, .invalidArgument: return CLIFailure(code: LiveExitCode.badInput, message: error.description)
        case .server, .invalidResponse: return CLIFailure(code: LiveExitCode.refused, message: error.description)
        }
    }
}

/// Prints rows as an aligned text table or as JSON.
enum Output {
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }

    static func json(_ object: Any) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes, .fragmentsAllowed]) else { return }
        print(String(decoding: data, as: UTF8.self))
    }

    static func entryObject(_ entry: AegisClient.Entry) -> [String: Any] {
        [
            "key": entry.key,
            "value": (try? JSONSerialization.jsonObject(with: Data(entry.valueJSON.utf8), options: [.fragmentsAllowed])) ?? NSNull(),
            "ttl": entry.ttl.map { $0 as Any } ?? NSNull(),
            "created_at": entry.createdAt,
            "updated_at": entry.updatedAt,
        ]
    }

    static func entries(_ entries: [AegisClient.Entry], format: OutputFormat, total: Int? = nil) {
        switch format {
        case .json:
            var object: [String: Any] = ["keys": entries.map(entryObject)]
            if let total { object["total"] = total }
            json(entries.count == 1 && total == nil ? entryObject(entries[0]) : object)
        case .table:
            table(["KEY", "VALUE", "TTL", "UPDATED"], entries.map { [$0.key, $0.valueJSON, $0.ttl.map(String.init) ?? "-", $0.updatedAt] })
            if let total, total > entries.count { print("(\(entries.count) of \(total) shown; raise --limit to see more)") }
        }
    }

    static func text(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "-"
        case let array as [Any]: return array.map { text($0) }.joined(separator: ",")
        default: return "\(value!)"
        }
    }
}
