import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A client of an Aegis cluster over its REST API.
///
/// Give it one or more endpoints. Any node serves every call (followers carry calls to
/// the leader), but the client learns the leader's address from `/api/v1/cluster/info`
/// and talks to it directly, saving a hop. A call that cannot reach a node, or that the
/// cluster answers with "try again" (503, 504), is retried on the next endpoint with
/// backoff; a write carries a request id (`X-Aegis-Request-Id`), the same on every
/// retry, so the cluster applies it at most once however often it is sent.
public final class AegisClient: @unchecked Sendable {
    public let endpoints: [Endpoint]
    public let retry: RetryPolicy
    public let requestTimeoutMilliseconds: Int
    private let http: HTTPClient
    private let lock = NSLock()
    private var preferred: Endpoint?
    private var discovered = false
    private var freeLanes: [(clientID: UInt64, nextSequence: UInt64)] = []

    /// `certificateAuthorityFile`: a PEM file of the authority that signed the servers'
    /// certificates, for https endpoints whose certificates the system does not trust.
    public init(endpoints: [Endpoint], retry: RetryPolicy = RetryPolicy(), requestTimeoutMilliseconds: Int = 10_000,
                certificateAuthorityFile: String? = nil) throws(ClientError) {
        guard !endpoints.isEmpty else { throw .invalidArgument("give at least one endpoint, like http://127.0.0.1:9090") }
        self.endpoints = endpoints
        self.retry = retry
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        var configuration = HTTPClient.Configuration()
        // A node that refuses connections is down: fail the attempt at once and let the
        // retry loop move to the next endpoint, rather than redial until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        if let certificateAuthorityFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificateAuthorityFile)
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Closes connections; call once when done.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: key-value

    /// An entry as the API returns it; `valueJSON` is its value as JSON text.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var valueJSON: String
        public var ttl: Int?
        public var createdAt: String
        public var updatedAt: String
    }

    public func get(_ key: String) async throws(ClientError) -> Entry? {
        do {
            return try Entry(json: try await send(.GET, "/api/v1/kv/keys/" + Self.pathEscape(key)))
        } catch let error where error.code == "not_found" {
            return nil
        }
    }

    /// Sets `key` to the JSON value `valueJSON` (for a string, pass it quoted).
    @discardableResult
    public func set(_ key: String, valueJSON: String, ttl: Int? = nil) async throws(ClientError) -> Entry {
        var body: [String: Any] = ["key": key, "value": try Self.parseJSON(valueJSON)]
        if let ttl { body["ttl"] = ttl }
        return try Entry(json: try await send(.POST, "/api/v1/kv/keys", body: body, idempotent: true))
    }

    /// Deletes `key`; true when it existed.
    @discardableResult
    public func delete(_ key: String) async throws(ClientError) -> Bool {
        let answer = try await send(.DELETE, "/api/v1/kv/keys/" + Self.pathEscape(key), idempotent: true)
        return answer["success"] as? Bool ?? false
    }

    public func list(prefix: String = "", limit: Int = 100) async throws(ClientError) -> (entries: [Entry], total: Int) {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "prefix", value: prefix), URLQueryItem(name: "limit", value: String(limit))]
        let answer = try await send(.GET, "/api/v1/kv/keys?" + (components.percentEncodedQuery ?? ""))
        guard let items = answer["keys"] as? [[String: Any]], let total = answer["total"] as? Int else {
            throw .invalidResponse("a list without keys and total")
        }
        var entries: [Entry] = []
        for item in items { entries.append(try Entry(json: item)) }
        return (entries, total)
    }

    /// Sets `key` to `valueJSON` only if it holds `expectedJSON` (nil: absent). Returns
    /// whether it swapped and, when not, the current value as JSON text.
    public func compareAndSet(_ key: String, expectedJSON: String?, valueJSON: String, ttl: Int? = nil)
        async throws(ClientError) -> (swapped: Bool, currentJSON: String?) {
        var body: [String: Any] = ["key": key, "value": try Self.parseJSON(valueJSON),
                                   "expected": try expectedJSON.map { v throws(ClientError) in try Self.parseJSON(v) } ?? NSNull()]
        if let ttl { body["ttl"] = ttl }
        let answer = try await send(.POST, "/api/v1/kv/cas", body: body, accepting: [409])
        if answer["success"] as? Bool == true { return (true, valueJSON) }
        let current = answer["current"].flatMap { $0 is NSNull ? nil : Self.encodeJSON($0) }
        return (false, current)
    }

    // MARK: SQL

    /// One statement's answer: column names, rows of JSON values (NSNull for NULL,
    /// NSNumber, String), and how many rows it changed.
    public struct QueryAnswer: @unchecked Sendable {
        public var columns: [String]
        public var rows: [[Any]]
        public var rowsAffected: Int
        public var executionMilliseconds: Double
    }

    /// Runs `sql` (with `$1, $2…` bound to `parametersJSON`, each a JSON value) on the
    /// cluster. A write is sent with a request id, so a retry applies it once.
    public func query(_ sql: String, parametersJSON: [String] = []) async throws(ClientError) -> QueryAnswer {
        var parameters: [Any] = []
        for parameter in parametersJSON { parameters.append(try Self.parseJSON(parameter)) }
        let answer = try await send(.POST, "/api/v1/query", body: ["sql": sql, "params": parameters], idempotent: true)
        guard let data = answer["data"] as? [String: Any], let columns = data["columns"] as? [String],
              let rows = data["rows"] as? [[Any]], let affected = data["rows_affected"] as? Int else {
            throw .invalidResponse("a query answer without data.columns, data.rows and data.rows_affected")
        }
        return QueryAnswer(columns: columns, rows: rows, rowsAffected: affected,
                           executionMilliseconds: answer["execution_time_ms"] as? Double ?? 0)
    }

    // MARK: cluster

    /// `/api/v1/cluster/info` of the node that answers, as JSON.
    public func clusterInfo(at endpoint: Endpoint? = nil) async throws(ClientError) -> [String: Any] {
        if let endpoint { return try await sendOnce(.GET, "/api/v1/cluster/info", to: endpoint, body: nil, requestID: nil) }
        return try await send(.GET, "/api/v1/cluster/info")
    }

    public func clusterPeers(at endpoint: Endpoint? = nil) async throws(ClientError) -> [String: Any] {
        if let endpoint { return try await sendOnce(.GET, "/api/v1/cluster/peers", to: endpoint, body: nil, requestID: nil) }
        return try await send(.GET, "/api/v1/cluster/peers")
    }

    /// The sharded store as one node sees it (`GET /api/v1/cluster/shards`): the shard
    /// map's version, and each shard's range, replicas and leader. A node started
    /// without `--shards` answers `.server(status: 404, code: "not_sharded", …)`.
    public func clusterShards(at endpoint: Endpoint? = nil) async throws(ClientError) -> [String: Any] {
        if let endpoint { return try await sendOnce(.GET, "/api/v1/cluster/shards", to: endpoint, body: nil, requestID: nil) }
        return try await send(.GET, "/api/v1/cluster/shards")
    }

    /// Drains a node of the sharded store (`draining: false` takes it back): its shard
    /// replicas move to other nodes in the background; `clusterShards` shows the progress.
    public func decommission(node: UInt32, draining: Bool = true) async throws(ClientError) -> [String: Any] {
        try await send(.POST, "/api/v1/cluster/nodes/\(node)/" + (draining ? "decommission" : "recommission"))
    }

    public func addMember(id: UInt32, peerAddress: String) async throws(ClientError) -> [String: Any] {
        try await send(.POST, "/api/v1/cluster/members", body: ["id": Int(id), "address": peerAddress])
    }

    public func removeMember(id: UInt32) async throws(ClientError) -> [String: Any] {
        try await send(.DELETE, "/api/v1/cluster/members/\(id)")
    }

    /// Asks the endpoints who leads and sends later calls there first (done once before
    /// the first call, and again after the preferred node stops answering).
    public func discoverLeader() async {
        for endpoint in endpoints {
            guard let info = try? await sendOnce(.GET, "/api/v1/cluster/info", to: endpoint, body: nil, requestID: nil) else { continue }
            if let address = info["leader_address"] as? String,
               let leader = try? Endpoint(parsing: endpoint.scheme.rawValue + "://" + address) {
                lock.withLock { preferred = leader }
                return
            }
        }
    }

    // MARK: transport

    /// Sends with retries: unreachable nodes and "try again" answers move to the next
    /// endpoint after a backoff; any other answer is final.
    private func send(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil, idempotent: Bool = false,
                      accepting: Set<Int> = []) async throws(ClientError) -> [String: Any] {
        if lock.withLock({ defer { discovered = true }; return !discovered }) { await discoverLeader() }
        let lane = idempotent ? takeLane() : nil
        defer { if let lane { returnLane(lane) } }
        let requestID = lane.map { "\($0.clientID)-\($0.nextSequence)" }
        var order = endpoints
        if let preferred = lock.withLock({ preferred }) { order.removeAll { $0 == preferred }; order.insert(preferred, at: 0) }
        var lastError = ClientError.unreachable("no attempt was made")
        for attempt in 1...retry.attemptsMax {
            if let delay = retry.delayMilliseconds(beforeAttempt: attempt, jitterUnit: Double.random(in: 0..<1)) {
                try? await Task.sleep(for: .milliseconds(delay))
            }
            let endpoint = order[(attempt - 1) % order.count]
            do {
                return try await sendOnce(method, path, to: endpoint, body: body, requestID: requestID, accepting: accepting)
            } catch {
                lastError = error
                switch error {
                case let .server(status, _, _) where status == 503 || status == 504:
                    continue
                case .unreachable:
                    lock.withLock { if preferred == endpoint { preferred = nil; discovered = false } }
                    continue
                default:
                    throw error
                }
            }
        }
        throw lastError
    }

    private func sendOnce(_ method: HTTPMethod, _ path: String, to endpoint: Endpoint, body: [String: Any]?,
                          requestID: String?, accepting: Set<Int> = []) async throws(ClientError) -> [String: Any] {
        var request = HTTPClientRequest(url: endpoint.description + path)
        request.method = method
        if let requestID { request.headers.add(name: "X-Aegis-Request-Id", value: requestID) }
        if let body {
            guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.fragmentsAllowed]) else {
                throw .invalidArgument("the request could not be encoded as JSON")
            }
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: data))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .milliseconds(Int64(requestTimeoutMilliseconds)))
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw .unreachable("\(endpoint): \(Self.describe(error))")
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(buffer: bytes), options: [.fragmentsAllowed]),
              let object = parsed as? [String: Any] else {
            throw .invalidResponse("\(endpoint) answered \(response.status.code) without a JSON object")
        }
        guard (200..<300).contains(Int(response.status.code)) || accepting.contains(Int(response.status.code)) else {
            let message = object["error"] as? String ?? "the server answered \(response.status.code)"
            throw .server(status: Int(response.status.code), code: object["code"] as? String ?? "http_\(response.status.code)", message: message)
        }
        return object
    }

    private func takeLane() -> (clientID: UInt64, nextSequence: UInt64) {
        lock.withLock {
            if let lane = freeLanes.popLast() { return lane }
            return (UInt64.random(in: 1...UInt64.max), 1)
        }
    }

    private func returnLane(_ lane: (clientID: UInt64, nextSequence: UInt64)) {
        lock.withLock { freeLanes.append((lane.clientID, lane.nextSequence + 1)) }
    }

    /// A transport error in a few words.
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("Connection refused") { return "connection refused" }
        if text.contains("deadlineExceeded") || text.contains("Timeout") || text.contains("timeout") { return "no answer in time" }
        return text
    }

    // MARK: JSON

    static func parseJSON(_ text: String) throws(ClientError) -> Any {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            throw .invalidArgument("'\(text)' is not JSON; quote a string value, like '\"hello\"'")
        }
        return value
    }

    public static func encodeJSON(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    static func pathEscape(_ key: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key
    }
}

extension AegisClient.Entry {
    init(json object: [String: Any]) throws(ClientError) {
        guard let key = object["key"] as? String, object.keys.contains("value") else {
            throw .invalidResponse("an entry without key or value")
        }
        self.key = key
        valueJSON = AegisClient.encodeJSON(object["value"] ?? NSNull())
        ttl = object["ttl"] as? Int
        createdAt = object["created_at"] as? String ?? ""
        updatedAt = object["updated_at"] as? String ?? ""
    }
}
