import Aegis
import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// The SQL API: `POST /api/v1/query`, prepared statements, and the tables. On the
/// single Raft group, statements that only read (SELECT, EXPLAIN) are served by the
/// leader after confirming it still leads; anything else goes through the Raft log, and
/// every replica runs it. On the sharded store (`--shards`), this node runs the request
/// on what it reads from the shards and commits it as one transaction (`ShardSQLCall`).
struct SQLRoutes: Sendable {
    let host: EngineHost
    let configuration: ServerConfiguration
    let prepared = PreparedStatements()

    var timeout: TimeAmount { .milliseconds(Int64(configuration.requestTimeoutMilliseconds)) }

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/query") { request, _ in
            let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
            try SQLRoutes.checkDatabase(body)
            guard let sql = body["sql"] as? String else { throw APIError.badRequest("the request needs \"sql\": a string of SQL", code: "invalid_json") }
            return try await run(sql, try SQLRoutes.parameters(body["params"]), identity: try RESTIdentity.parse(request))
        }
        router.post("/api/v1/prepare") { request, _ in
            let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
            guard let sql = body["sql"] as? String else { throw APIError.badRequest("the request needs \"sql\": a string of SQL", code: "invalid_json") }
            _ = try SQLRoutes.parse(sql)
            let id = try prepared.add(sql)
            return JSONResponse.make(["success": true, "statement_id": id])
        }
        router.post("/api/v1/prepared/execute") { request, _ in
            let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
            guard let id = body["statement_id"] as? String else {
                throw APIError.badRequest("the request needs \"statement_id\": the id /api/v1/prepare gave", code: "invalid_json")
            }
            guard let sql = prepared.get(id) else {
                throw APIError(status: .notFound, code: "not_found", message: "there is no prepared statement \(id) on this node; prepare it again")
            }
            return try await run(sql, try SQLRoutes.parameters(body["params"]), identity: try RESTIdentity.parse(request))
        }
        router.delete("/api/v1/prepared/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard prepared.remove(id) else {
                throw APIError(status: .notFound, code: "not_found", message: "there is no prepared statement \(id) on this node")
            }
            return JSONResponse.make(["success": true, "statement_id": id])
        }
        router.get("/api/v1/tables") { _, _ in
            let catalog = try await catalog()
            return JSONResponse.make(["success": true, "tables": catalog.tables.map { SQLRoutes.describe($0, catalog) }])
        }
        router.get("/api/v1/tables/{name}") { _, context in
            let name = context.parameters.get("name") ?? ""
            let catalog = try await catalog()
            guard let table = catalog.table(name) ?? catalog.table(name.lowercased()) else {
                throw APIError(status: .notFound, code: "not_found", message: "there is no table \(name)")
            }
            var description = SQLRoutes.describe(table, catalog)
            let counted = try await execute("SELECT count(*) FROM " + SQLPrinter.quoteName(table.name), [], readOnly: true, identity: nil)
            if counted.error == nil, case let .integer(rows)? = counted.results.last?.rows.first?.first {
                description["row_count"] = Int(rows)
            }
            return JSONResponse.make(["success": true, "table": description])
        }
    }

    private func run(_ sql: String, _ parameters: [SQLValue], identity: (clientID: UInt64, sequence: UInt64)?) async throws -> Response {
        let started = DispatchTime.now().uptimeNanoseconds
        let statements = try SQLRoutes.parse(sql)
        guard sql.utf8.count <= KVLimits.sqlTextBytesMax else {
            throw APIError(status: .contentTooLarge, code: "sql_too_large", message: "the SQL is \(sql.utf8.count) bytes; send at most \(KVLimits.sqlTextBytesMax) in one request")
        }
        guard RowLayout.encodedSize(parameters) <= KVLimits.sqlTextBytesMax else {
            throw APIError(status: .contentTooLarge, code: "sql_too_large",
                           message: "the parameters take more than \(KVLimits.sqlTextBytesMax) bytes; send large values in smaller pieces")
        }
        let outcome = try await execute(sql, parameters, readOnly: statements.allSatisfy(\.isReadOnly), identity: identity)
        if let error = outcome.error { throw SQLRoutes.apiError(error) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000
        let data = outcome.results.last ?? QueryResult()
        return JSONResponse.text("{\"success\":true,\"data\":" + data.jsonText + ",\"execution_time_ms\":" + String(format: "%.3f", elapsed) + "}")
    }

    /// Runs a request on the sharded store when this node has one, else through the Raft log.
    private func execute(_ sql: String, _ parameters: [SQLValue], readOnly: Bool,
                         identity: (clientID: UInt64, sequence: UInt64)?) async throws -> ShardSQLOutcome {
        if let shards = host.shardHost {
            return try await shards.sql(sql, parameters: parameters, identity: readOnly ? nil : identity, timeout: timeout)
        }
        let result = try await host.call(.sql(text: sql, parameters: parameters, readOnly: readOnly),
                                         identity: readOnly ? nil : identity, timeout: timeout).get()
        guard case let .sql(results, error) = result else {
            throw APIError(status: .internalServerError, code: "internal", message: "the cluster answered a query with \(result); please report it")
        }
        return ShardSQLOutcome(results: results, error: error)
    }

    private func catalog() async throws -> Catalog {
        if let shards = host.shardHost { return try await shards.sqlCatalog(timeout: timeout) }
        return try await host.localCatalog().get()
    }

    /// SQL errors are the caller's (4xx), with a code naming the kind; a lost conflict is 409.
    static func apiError(_ message: String) -> APIError {
        let kind = message.prefix { $0 != " " }
        let status: HTTPResponse.Status = kind == "conflict" ? .conflict : .badRequest
        return APIError(status: status, code: "sql_" + kind, message: message)
    }

    static func parse(_ sql: String) throws -> [Statement] {
        do {
            let statements = try Parser.parse(sql)
            guard !statements.isEmpty else { throw APIError.badRequest("\"sql\" holds no statement", code: "sql_syntax") }
            return statements
        } catch let error as SQLError {
            throw apiError(error.rendered(in: sql))
        }
    }

    static func checkDatabase(_ body: [String: Any]) throws {
        guard let database = body["database"], !(database is NSNull) else { return }
        guard let name = database as? String, name == "default" else {
            throw APIError.badRequest("\"database\" must be \"default\", the one database a cluster holds", code: "invalid_database")
        }
    }

    /// `params`: a JSON array; numbers, strings, booleans (1 and 0) and nulls.
    static func parameters(_ value: Any?) throws -> [SQLValue] {
        guard let value, !(value is NSNull) else { return [] }
        guard let list = value as? [Any] else { throw APIError.badRequest("\"params\" must be a JSON array of values", code: "invalid_json") }
        guard list.count <= KVLimits.sqlParametersMax else {
            throw APIError.badRequest("\"params\" holds at most \(KVLimits.sqlParametersMax) values", code: "invalid_json")
        }
        return try list.enumerated().map { index, item in
            switch item {
            case is NSNull: return .null
            case let text as String: return .text(text)
            case let number as NSNumber:
                let type = String(cString: number.objCType)
                if type == "c" || type == "B" { return number.boolValue ? .true : .false }
                if type == "d" || type == "f" { return .real(number.doubleValue) }
                return .integer(number.int64Value)
            default:
                throw APIError.badRequest("params[\(index)] must be a number, string, boolean or null, not an array or object", code: "invalid_json")
            }
        }
    }

    static func describe(_ table: Catalog.Table, _ catalog: Catalog) -> [String: Any] {
        [
            "name": table.name,
            "columns": table.columns.enumerated().map { index, column -> [String: Any] in
                ["name": column.name, "type": column.type.rawValue.uppercased(), "not_null": column.notNull,
                 "primary_key": table.primaryKey.contains(index), "default": column.defaultSQL ?? NSNull()]
            },
            "primary_key": table.primaryKey.map { table.columns[$0].name },
            "hash_buckets": table.hashBuckets,
            "indexes": catalog.indexes(on: table.name).map { index -> [String: Any] in
                ["name": index.name, "unique": index.unique, "columns": index.columns.map { table.columns[$0].name }]
            },
        ]
    }
}

/// Prepared statements of this node: SQL text by id, bounded in number.
final class PreparedStatements: Sendable {
    static let countMax = 10_000
    private let statements = NIOLockedValueBox<(next: UInt64, byID: [String: String])>((1, [:]))

    func add(_ sql: String) throws -> String {
        try statements.withLockedValue { state in
            guard state.byID.count < PreparedStatements.countMax else {
                throw APIError(status: .tooManyRequests, code: "too_many_prepared",
                               message: "this node holds \(PreparedStatements.countMax) prepared statements; DELETE some with /api/v1/prepared/{id}")
            }
            let id = "stmt-\(state.next)"
            state.next += 1
            state.byID[id] = sql
            return id
        }
    }

    func get(_ id: String) -> String? { statements.withLockedValue { $0.byID[id] } }
    func remove(_ id: String) -> Bool { statements.withLockedValue { $0.byID.removeValue(forKey: id) != nil } }
}
