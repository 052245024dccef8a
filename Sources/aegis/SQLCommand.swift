import Aegis
import AegisClient
import ArgumentParser
import CEditLine
import Foundation
import Runtime

/// `aegis sql`: statements against a local data directory (no server) or a live cluster.
struct SQLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run SQL embedded in a data directory or against a live cluster.",
        discussion: """
        With a statement argument, runs it and exits. Without one, reads statements from standard input \
        (an interactive shell with history when standard input is a terminal). Statements end with ';'.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, csv
    }

    @Argument(help: "SQL to run (several statements separated by ';'). Omit to read standard input.")
    var sql: String?
    @Option(name: .customLong("data-dir"), help: "Run embedded on this directory (created if missing); no server needed.")
    var dataDirectory: String?
    @Option(name: .customLong("endpoint"), help: "A node's URL (repeat for several); the default when --data-dir is not given is http://127.0.0.1:9090.")
    var endpoints: [String] = []
    @Option(help: "table, json or csv (default table).")
    var format: Format = .table
    @Option(name: .customLong("param"), help: "A value for $1, $2, … in order: a number, NULL, or text.")
    var parameters: [String] = []
    @Option(name: .customLong("timeout-ms"), help: "How long one request to a cluster may take, in milliseconds (default 10000).")
    var timeoutMilliseconds: Int = 10_000
    @Option(name: .customLong("ca-cert"), help: "A PEM file of the authority that signed the servers' certificates (https endpoints).")
    var certificateAuthority: String?

    func validate() throws {
        if dataDirectory != nil && !endpoints.isEmpty {
            throw ValidationError("give --data-dir (embedded) or --endpoint (a cluster), not both")
        }
    }

    var parameterValues: [SQLValue] {
        parameters.map { text in
            if text.uppercased() == "NULL" { return .null }
            if let integer = Int64(text) { return .integer(integer) }
            if let real = Double(text), text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .real(real) }
            return .text(text)
        }
    }

    func run() async throws {
        let runner: any SQLRunner
        if let dataDirectory {
            do {
                runner = EmbeddedRunner(try EmbeddedDatabase(directory: dataDirectory))
            } catch {
                throw CLIFailure(code: LiveExitCode.refused, message: "\(error)")
            }
        } else {
            var options = ClientOptions()
            options.endpoints = endpoints
            options.timeoutMilliseconds = timeoutMilliseconds
            options.certificateAuthority = certificateAuthority
            runner = RemoteRunner(try options.makeClient())
        }
        var failures = 0
        var interactive = false
        if let sql {
            if let failure = await runOnce(sql, runner) {
                await runner.close()
                throw failure
            }
        } else {
            interactive = isatty(STDIN_FILENO) == 1
            var shell = SQLShell(interactive: interactive)
            while let statement = shell.nextStatement() {
                if await runOnce(statement, runner) != nil { failures += 1 }
            }
            shell.saveHistory()
        }
        await runner.close()
        if failures > 0 && !interactive { throw CLIFailure(code: LiveExitCode.refused, message: "") }
    }

    /// Runs `sql` and prints each result; on failure, prints why and gives the exit
    /// code: 5 when no node could be reached, 1 when a statement failed.
    private func runOnce(_ sql: String, _ runner: any SQLRunner) async -> CLIFailure? {
        do {
            let (results, failure) = try await runner.execute(sql, parameters: parameterValues)
            for result in results { print(render(result), terminator: "") }
            guard let failure else { return nil }
            printError(failure)
        } catch let error as ClientError {
            printError(error.description)
            return CLIFailure(code: CLIFailure.from(error).code, message: "")
        } catch {
            printError("\(error)")
        }
        return CLIFailure(code: LiveExitCode.refused, message: "")
    }

    private func render(_ result: QueryResult) -> String {
        switch format {
        case .table: return result.tableText
        case .json: return result.jsonText + "\n"
        case .csv: return result.columns.isEmpty ? "" : result.csvText
        }
    }
}

protocol SQLRunner {
    /// The results of the statements that ran, and the error (as text) that stopped the rest.
    func execute(_ sql: String, parameters: [SQLValue]) async throws -> ([QueryResult], String?)
    func close() async
}

/// Statements on a local directory, one session for the whole run (so BEGIN … COMMIT
/// across lines of the shell works).
final class EmbeddedRunner: SQLRunner {
    let database: EmbeddedDatabase
    let session: SQLSession

    init(_ database: EmbeddedDatabase) {
        self.database = database
        session = database.database.session()
    }

    func execute(_ sql: String, parameters: [SQLValue]) async throws -> ([QueryResult], String?) {
        let (results, error) = session.executeAll(sql, parameters: parameters)
        return (results, error?.rendered(in: sql))
    }

    func close() async {
        if session.inTransaction { printError("the open transaction was rolled back (no COMMIT before the end)") }
        database.close()
    }
}

/// Statements sent to a cluster's `/api/v1/query`.
final class RemoteRunner: SQLRunner {
    let client: AegisClient

    init(_ client: AegisClient) { self.client = client }

    func execute(_ sql: String, parameters: [SQLValue]) async throws -> ([QueryResult], String?) {
        // One request per statement, so each result is printed (the API answers with
        // the last statement's result only) — except a transaction, BEGIN through
        // COMMIT or ROLLBACK, which must travel as one request (a request that leaves
        // its transaction open is rolled back).
        var results: [QueryResult] = []
        let statements: [String]
        do { statements = try RemoteRunner.requests(Parser.statementTexts(sql)) } catch { return ([], error.rendered(in: sql)) }
        for statement in statements {
            do {
                let answer = try await client.query(statement, parametersJSON: parameters.map(\.jsonText))
                results.append(QueryResult(columns: answer.columns, rows: answer.rows.map { $0.map(RemoteRunner.value) }, rowsAffected: answer.rowsAffected))
            } catch {
                if case let .server(status, _, message) = error, (400..<500).contains(status) { return (results, message) }
                throw error
            }
        }
        return (results, nil)
    }

    /// The statements grouped into requests: each alone, or BEGIN through the COMMIT or
    /// ROLLBACK that ends it together (an unended one runs to the end of the text).
    static func requests(_ statements: [String]) throws(SQLError) -> [String] {
        var requests: [String] = []
        var open: [String]?
        for text in statements {
            let statement = try Parser.parseOne(text)
            if var group = open {
                group.append(text)
                switch statement {
                case .commit, .rollback:
                    requests.append(group.joined(separator: "; "))
                    open = nil
                default:
                    open = group
                }
            } else if case .begin = statement {
                open = [text]
            } else {
                requests.append(text)
            }
        }
        if let group = open { requests.append(group.joined(separator: "; ")) }
        return requests
    }

    /// A JSON value of an answer as a SQL value (numbers with a fraction or exponent as REAL).
    static func value(_ json: Any) -> SQLValue {
        switch json {
        case is NSNull: return .null
        case let text as String: return .text(text)
        case let number as NSNumber:
            let type = String(cString: number.objCType)
            if type == "d" || type == "f" { return .real(number.doubleValue) }
            return .integer(number.int64Value)
        default: return .text("\(json)")
        }
    }

    func close() async {
        try? await client.shutdown()
    }
}

/// Reads statements from standard input: lines gathered until one ends with ';'. On a
/// terminal, lines are edited with libedit (arrow keys, search) and each statement joins
/// the history, kept across runs in ~/.aegis_sql_history.
struct SQLShell {
    let interactive: Bool
    static let historyMax: Int32 = 1000
    static var historyPath: String { (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.aegis_sql_history" }

    init(interactive: Bool) {
        self.interactive = interactive
        if interactive {
            print("Aegis SQL. End statements with ';'. Arrow keys recall earlier ones; .quit leaves.")
            stifle_history(SQLShell.historyMax)
            _ = read_history(SQLShell.historyPath)
        }
    }

    private func readLine(prompt: String) -> String? {
        guard interactive else { return Swift.readLine(strippingNewline: true) }
        guard let line = readline(prompt) else { return nil }
        defer { free(line) }
        return String(cString: line)
    }

    mutating func nextStatement() -> String? {
        var buffer = ""
        while true {
            guard let line = readLine(prompt: buffer.isEmpty ? "aegis> " : "  ...> ") else {
                let rest = buffer.trimmingCharacters(in: .whitespacesAndNewlines)
                return rest.isEmpty ? nil : rest
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if buffer.isEmpty && interactive && (trimmed == ".quit" || trimmed == ".exit") { return nil }
            buffer += (buffer.isEmpty ? "" : "\n") + line
            if trimmed.hasSuffix(";") {
                let statement = buffer.trimmingCharacters(in: .whitespacesAndNewlines)
                if interactive { _ = add_history(statement.replacingOccurrences(of: "\n", with: " ")) }
                return statement
            }
        }
    }

    func saveHistory() {
        guard interactive else { return }
        _ = write_history(SQLShell.historyPath)
    }
}
