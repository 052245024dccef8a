import Aegis
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST API of one node, following the routes and JSON shapes of the original
/// Aegis-DB (`/health`, `/api/v1/kv/...`, `/api/v1/cluster/...`) so its clients work.
struct RESTRoutes: Sendable {
    let host: EngineHost
    let configuration: ServerConfiguration
    let version: String
    let metrics: ServerMetrics

    static let requestIDHeader = HTTPField.Name("x-aegis-request-id")!
    static let batchKeysMax = 1000
    static let listLimitDefault = 100

    var timeout: TimeAmount { .milliseconds(Int64(configuration.requestTimeoutMilliseconds)) }
    /// The sharded store, when the server runs one (`--shards`).
    var shardBackend: ShardKVBackend? { host.shardHost.map { ShardKVBackend(shards: $0) } }
    /// Where the key-value routes go: the sharded store, else the node's Raft group.
    var kv: any KVBackend { shardBackend ?? host }

    func register(on router: Router<BasicRequestContext>) {
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        router.get("/health") { _, _ in JSONResponse.make(["status": "healthy", "version": version]) }
        router.get("/health/live") { _, _ in JSONResponse.make(["status": "alive", "version": version]) }
        router.get("/health/ready") { _, _ in try await ready() }

        router.post("/api/v1/kv/keys") { request, _ in try await set(request) }
        router.get("/api/v1/kv/keys") { request, _ in try await list(request) }
        router.get("/api/v1/kv/keys/**") { request, context in
            try await get(try pathKey(context), local: try localConsistency(request))
        }
        router.delete("/api/v1/kv/keys/**") { request, context in try await delete(try pathKey(context), request: request) }
        router.post("/api/v1/kv/batch/get") { request, _ in try await batchGet(request) }
        router.post("/api/v1/kv/batch/set") { request, _ in try await batchSet(request) }
        router.post("/api/v1/kv/batch/delete") { request, _ in try await batchDelete(request) }
        router.post("/api/v1/kv/cas") { request, _ in try await compareAndSet(request) }
        router.post("/api/v1/kv/txn") { request, _ in try await transaction(request) }

        router.get("/api/v1/cluster/info") { _, _ in try await clusterInfo() }
        router.get("/api/v1/cluster/peers") { _, _ in try await clusterPeers() }
        router.get("/api/v1/cluster/shards") { _, _ in try await clusterShards() }
        router.post("/api/v1/cluster/nodes/{id}/decommission") { _, context in
            try await decommission(context.parameters.get("id") ?? "", draining: true)
        }
        router.post("/api/v1/cluster/nodes/{id}/recommission") { _, context in
            try await decommission(context.parameters.get("id") ?? "", draining: false)
        }
        router.post("/api/v1/cluster/members") { request, _ in try await addMember(request) }
        router.delete("/api/v1/cluster/members/{id}") { _, context in try await removeMember(context.parameters.get("id") ?? "") }
        router.get("/api/v1/metrics") { _, _ in try await metricsJSON() }
        router.get("/metrics") { _, _ in try await metricsText() }
        router.get("/api/v1/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml + "\n")))
        }
    }

    // MARK: health

    private func ready() async throws -> Response {
        let status = try await host.status().get()
        if let reason = status.stoppedReason {
            throw APIError(status: .serviceUnavailable, code: "not_ready", message: reason)
        }
        guard let leader = status.leader else {
            throw APIError(status: .serviceUnavailable, code: "not_ready",
                message: "node \(status.node.rawValue) sees no leader yet; wait for an election or check that a majority of nodes is up")
        }
        return JSONResponse.make(["status": "ready", "node_id": Int(status.node.rawValue), "leader_id": Int(leader.rawValue)])
    }

    // MARK: key-value

    private func set(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        let entry = try await store(try EntryInput(body, what: "the request"), identity: try identity(request))
        return JSONResponse.text(entry.jsonText)
    }

    private func get(_ key: String, local: Bool) async throws -> Response {
        guard let entry = try await read(key, local: local) else {
            throw APIError(status: .notFound, code: "not_found", message: "key '\(key)' does not exist (or its ttl expired)")
        }
        return JSONResponse.text(entry.jsonText)
    }

    private func delete(_ key: String, request: Request) async throws -> Response {
        let keyBytes = try KeyInput.bytes(key)
        let result = try await kv.kv(.delete(key: keyBytes), identity: try identity(request), timeout: timeout)
        guard case let .deleted(existed) = result else { throw unexpected(result) }
        return JSONResponse.make(["success": existed, "key": key])
    }

    private func list(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let prefix = query.get("prefix").map { String($0) } ?? ""
        var limit = RESTRoutes.listLimitDefault
        if let text = query.get("limit") {
            guard let value = Int(text), (1...KVLimits.scanEntriesMax).contains(value) else {
                throw APIError.badRequest("limit must be a whole number from 1 to \(KVLimits.scanEntriesMax)")
            }
            limit = value
        }
        let prefixBytes = try KeyInput.bytes(prefix, allowEmpty: true)
        let result = try localConsistency(request)
            ? try await kv.localListing(prefix: prefixBytes, limit: limit)
            : try await kv.kv(.scan(prefix: prefixBytes, limit: limit), identity: nil, timeout: timeout)
        guard case let .entries(pairs, matched) = result else { throw unexpected(result) }
        let now = Timestamp.nowMilliseconds()
        var entries: [String] = []
        var expired = 0
        for pair in pairs {
            let key = String(decoding: pair.key, as: UTF8.self)
            guard let entry = KVEntry.decode(key: key, stored: pair.value) else { continue }
            if entry.isExpired(nowMilliseconds: now) {
                expired += 1
                removeExpired(pair.key, pair.value)
                continue
            }
            entries.append(entry.jsonText)
        }
        return JSONResponse.text("{\"keys\":[" + entries.joined(separator: ",") + "],\"total\":\(matched - expired)}")
    }

    private func batchGet(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        let keys = try JSONBody.strings(body, "keys", max: RESTRoutes.batchKeysMax)
        if let shardBackend {
            // One transaction: the entries are one consistent moment across shards.
            let values = try await shardBackend.batchGet(try keys.map { try KeyInput.bytes($0) }, timeout: timeout)
            let now = Timestamp.nowMilliseconds()
            var entries: [String] = []
            for (key, stored) in zip(keys, values) {
                if let stored, let entry = KVEntry.decode(key: key, stored: stored), !entry.isExpired(nowMilliseconds: now) {
                    entries.append(entry.jsonText)
                }
            }
            return JSONResponse.text("{\"entries\":[" + entries.joined(separator: ",") + "]}")
        }
        var reads: [(String, EventLoopFuture<KVResult>)] = []
        for key in keys { reads.append((key, host.call(.get(key: try KeyInput.bytes(key)), timeout: timeout))) }
        var entries: [String] = []
        let now = Timestamp.nowMilliseconds()
        for (key, future) in reads {
            let result = try await future.get()
            guard case let .value(stored) = result else { throw unexpected(result) }
            if let stored, let entry = KVEntry.decode(key: key, stored: stored), !entry.isExpired(nowMilliseconds: now) {
                entries.append(entry.jsonText)
            }
        }
        return JSONResponse.text("{\"entries\":[" + entries.joined(separator: ",") + "]}")
    }

    private func batchSet(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        guard let items = body["entries"] as? [Any] else {
            throw APIError.badRequest("the request needs \"entries\": a list of {\"key\",\"value\",\"ttl\"?} objects", code: "invalid_json")
        }
        guard items.count <= RESTRoutes.batchKeysMax else {
            throw APIError.badRequest("a batch holds at most \(RESTRoutes.batchKeysMax) entries; split it")
        }
        var inputs: [EntryInput] = []
        for (index, item) in items.enumerated() {
            guard let object = item as? [String: Any] else {
                throw APIError.badRequest("entries[\(index)] must be an object with \"key\" and \"value\"", code: "invalid_json")
            }
            inputs.append(try EntryInput(object, what: "entries[\(index)]"))
        }
        if let shardBackend {
            // All or nothing, across shards (two-phase commit when they differ).
            let keys = try inputs.map { try KeyInput.bytes($0.key) }
            // With a request id, a retry of a batch already applied writes nothing (the answer is the same count).
            _ = try await shardBackend.batchWrite(keys, identity: try identity(request), timeout: timeout) { current in
                let now = Timestamp.nowMilliseconds()
                return try zip(inputs, current).map { input, stored in
                    let existing = stored.flatMap { KVEntry.decode(key: input.key, stored: $0) }
                        .flatMap { $0.isExpired(nowMilliseconds: now) ? nil : $0 }
                    return try KVEntry(key: input.key, valueJSON: input.valueJSON, ttlSeconds: input.ttlSeconds,
                        createdMilliseconds: existing?.createdMilliseconds ?? now, updatedMilliseconds: now).storedChecked()
                }
            }
            return JSONResponse.make(["count": inputs.count])
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for input in inputs { group.addTask { _ = try await store(input, identity: nil) } }
            try await group.waitForAll()
        }
        return JSONResponse.make(["count": inputs.count])
    }

    /// `{operations}`: see `KVTransaction`. The sharded store only: the single Raft
    /// group's store has no multi-key transactions.
    private func transaction(_ request: Request) async throws -> Response {
        guard let shardBackend else {
            throw APIError(status: .notFound, code: "not_sharded",
                message: "transactions across keys need the sharded store; start the cluster with --shards N (single keys: /api/v1/kv/cas)")
        }
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        let transaction = try KVTransaction(body)
        let names = transaction.keys
        var reads: [(key: String, valueJSON: String?)] = []
        func answerText() -> String {
            let list: [Any] = reads.map { read in
                ["key": read.key, "value": read.valueJSON.flatMap { JSONText.decode($0) } ?? NSNull()] as [String: Any]
            }
            let data = (try? JSONSerialization.data(withJSONObject: ["success": true, "reads": list], options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        do {
            let written = try await shardBackend.batchWrite(try names.map { try KeyInput.bytes($0) }, identity: try identity(request),
                                                            timeout: timeout, answer: { .value(Array(answerText().utf8)) }) { current in
                let now = Timestamp.nowMilliseconds()
                let entries = zip(names, current).map { name, stored in
                    stored.flatMap { KVEntry.decode(key: name, stored: $0) }.flatMap { $0.isExpired(nowMilliseconds: now) ? nil : $0 }
                }
                let result = try transaction.evaluate(entries, nowMilliseconds: now)
                reads = result.reads
                return try zip(result.entries, zip(entries, current)).map { new, old in
                    // Untouched entries keep their stored bytes (an expired one included).
                    new == old.0 ? old.1 : try new?.storedChecked()
                }
            }
            // Sent before and applied then: the answer it had.
            if case let .value(recorded?)? = written.replayed { return JSONResponse.text(String(decoding: recorded, as: UTF8.self)) }
        } catch let failed as KVTransaction.ConditionFailed {
            return JSONResponse.make(["success": false, "code": "condition_failed", "error": failed.reason + "; nothing was written",
                "key": failed.key, "current": failed.currentJSON.flatMap { JSONText.decode($0) } ?? NSNull()], status: .conflict)
        }
        return JSONResponse.text(answerText())
    }

    private func batchDelete(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        let keys = try JSONBody.strings(body, "keys", max: RESTRoutes.batchKeysMax)
        if let shardBackend {
            let before = try await shardBackend.batchWrite(try keys.map { try KeyInput.bytes($0) }, timeout: timeout) { current in
                current.map { _ in nil }
            }.before
            return JSONResponse.make(["deleted": before.filter { $0 != nil }.count])
        }
        var deletes: [EventLoopFuture<KVResult>] = []
        for key in keys { deletes.append(host.call(.delete(key: try KeyInput.bytes(key)), timeout: timeout)) }
        var deleted = 0
        for future in deletes {
            if case .deleted(true) = try await future.get() { deleted += 1 }
        }
        return JSONResponse.make(["deleted": deleted])
    }

    /// `{key, expected, value}`: writes `value` only if the key now holds `expected`
    /// (JSON null or a missing `expected`: the key must be absent).
    private func compareAndSet(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        let input = try EntryInput(body, what: "the request")
        let expected: String? = body["expected"].flatMap { $0 is NSNull ? nil : JSONText.encode($0) }
        let keyBytes = try KeyInput.bytes(input.key)
        for _ in 0..<8 {
            let result = try await kv.kv(.get(key: keyBytes), identity: nil, timeout: timeout)
            guard case let .value(stored) = result else { throw unexpected(result) }
            let now = Timestamp.nowMilliseconds()
            let current = stored.flatMap { KVEntry.decode(key: input.key, stored: $0) }.flatMap { $0.isExpired(nowMilliseconds: now) ? nil : $0 }
            guard current?.valueJSON == expected else {
                return JSONResponse.make(["success": false, "key": input.key,
                    "current": current.flatMap { JSONText.decode($0.valueJSON) } ?? NSNull()], status: .conflict)
            }
            let entry = KVEntry(key: input.key, valueJSON: input.valueJSON, ttlSeconds: input.ttlSeconds,
                createdMilliseconds: current?.createdMilliseconds ?? now, updatedMilliseconds: now)
            let swapped = try await kv.kv(.compareAndSet(key: keyBytes, expected: stored, new: try entry.storedChecked()),
                identity: nil, timeout: timeout)
            if case .compareAndSet(true, _) = swapped {
                return JSONResponse.text("{\"entry\":" + entry.jsonText + ",\"key\":" + JSONText.quote(input.key) + ",\"success\":true}")
            }
            // Someone wrote between the read and the swap: read again.
        }
        throw APIError(status: .conflict, code: "contention", message: "key '\(input.key)' changed on every attempt; retry")
    }

    /// Reads an entry, treating an expired one as absent (and removing it). `local`:
    /// from what this node has applied, without asking the leader (may be stale).
    private func read(_ key: String, local: Bool = false) async throws -> KVEntry? {
        let keyBytes = try KeyInput.bytes(key)
        let stored: [UInt8]?
        if local {
            stored = try await kv.localValue(keyBytes)
        } else {
            let result = try await kv.kv(.get(key: keyBytes), identity: nil, timeout: timeout)
            guard case let .value(value) = result else { throw unexpected(result) }
            stored = value
        }
        guard let stored, let entry = KVEntry.decode(key: key, stored: stored) else { return nil }
        if entry.isExpired(nowMilliseconds: Timestamp.nowMilliseconds()) {
            removeExpired(keyBytes, stored)
            return nil
        }
        return entry
    }

    /// Deletes an expired entry unless it was rewritten meanwhile (compare-and-set).
    private func removeExpired(_ key: [UInt8], _ stored: [UInt8]) {
        let kv = kv
        let timeout = timeout
        Task { _ = try? await kv.kv(.compareAndSet(key: key, expected: stored, new: nil), identity: nil, timeout: timeout) }
    }

    /// Writes an entry, keeping its creation time: a compare-and-set against the value
    /// this node last applied (a guess), retried with the value the leader holds.
    private func store(_ input: EntryInput, identity: (clientID: UInt64, sequence: UInt64)?) async throws -> KVEntry {
        let keyBytes = try KeyInput.bytes(input.key)
        var guess = try await kv.localValue(keyBytes)
        for attempt in 0..<8 {
            let now = Timestamp.nowMilliseconds()
            let existing = guess.flatMap { KVEntry.decode(key: input.key, stored: $0) }.flatMap { $0.isExpired(nowMilliseconds: now) ? nil : $0 }
            let entry = KVEntry(key: input.key, valueJSON: input.valueJSON, ttlSeconds: input.ttlSeconds,
                createdMilliseconds: existing?.createdMilliseconds ?? now, updatedMilliseconds: now)
            // The single group's session keeps a failed attempt's answer, so only the first
            // carries the request id there; on the sharded store a failed one records nothing.
            let result = try await kv.kv(.compareAndSet(key: keyBytes, expected: guess, new: try entry.storedChecked()),
                identity: attempt == 0 || shardBackend != nil ? identity : nil, timeout: timeout)
            guard case let .compareAndSet(succeeded, current) = result else { throw unexpected(result) }
            if succeeded { return entry }
            guess = current
        }
        throw APIError(status: .conflict, code: "contention", message: "key '\(input.key)' changed on every attempt; retry")
    }

    // MARK: cluster

    private func clusterInfo() async throws -> Response {
        let status = try await host.status().get()
        var info: [String: Any] = [
            "node_id": Int(status.node.rawValue), "role": status.role, "term": status.term,
            "commit_index": status.commitIndex, "applied_index": status.appliedIndex, "last_index": status.lastIndex,
            "voters": status.voters.map { Int($0.rawValue) }, "learners": status.learners.map { Int($0.rawValue) },
            "keys": status.keys, "version": version, "cluster": configuration.cluster,
            "http_address": configuration.http.description, "peer_address": configuration.raft.description,
        ]
        info["leader_id"] = status.leader.map { Int($0.rawValue) as Any } ?? NSNull()
        info["leader_address"] = status.leaderHTTPAddress.map { $0 as Any } ?? NSNull()
        return JSONResponse.make(info)
    }

    private func clusterPeers() async throws -> Response {
        let status = try await host.status().get()
        let peers: [[String: Any]] = status.peers.map { peer in
            [
                "id": Int(peer.id.rawValue), "role": peer.role,
                "peer_address": peer.peerAddress.map { $0 as Any } ?? NSNull(),
                "http_address": peer.httpAddress.map { $0 as Any } ?? NSNull(),
                "leader": peer.id == status.leader,
            ]
        }
        return JSONResponse.make(["node_id": Int(status.node.rawValue), "peers": peers])
    }

    /// The sharded store as this node sees it: the map's version, and each shard's
    /// range, replicas and leader (the leader as far as this node knows).
    private func clusterShards() async throws -> Response {
        guard let shards = host.shardHost else {
            throw APIError(status: .notFound, code: "not_sharded",
                message: "this node runs the unsharded store (one Raft group); start the cluster with --shards N for shards")
        }
        let status = try await shards.status().get()
        func text(_ key: [UInt8]?) -> Any { key.map { String(decoding: $0, as: UTF8.self) as Any } ?? NSNull() }
        let list: [[String: Any]] = status.shards.map { shard in
            [
                "id": Int(shard.id.rawValue), "role": shard.id == .meta ? "meta" : "data",
                "generation": Int(shard.generation),
                "range": ["start": text(shard.range.start), "end": text(shard.range.end)],
                "replicas": shard.voters.map { Int($0.rawValue) }, "learners": shard.learners.map { Int($0.rawValue) },
                "leader_id": shard.leader.map { Int($0.rawValue) as Any } ?? NSNull(),
                "hosted_here": shard.hostedHere, "keys": shard.keysHere.map { $0 as Any } ?? NSNull(),
            ]
        }
        var body: [String: Any] = [
            "node_id": Int(status.node.rawValue), "map_version": Int(status.mapVersion),
            "nodes": status.nodes.map { Int($0.rawValue) },
            "decommissioning": status.decommissioning.map { Int($0.rawValue) }, "shards": list,
            "transactions": ["committed": status.hostCounters.committed, "aborted": status.hostCounters.aborted,
                             "reruns": status.hostCounters.reruns],
        ]
        body["stopped_reason"] = status.stoppedReason.map { $0 as Any } ?? NSNull()
        return JSONResponse.make(body)
    }

    /// Marks a node of the sharded store draining (its replicas move to the other nodes,
    /// and none is placed on it), or no longer; the placement driver does the moving.
    private func decommission(_ idText: String, draining: Bool) async throws -> Response {
        guard let shards = host.shardHost else {
            throw APIError(status: .notFound, code: "not_sharded",
                message: "decommissioning moves shard replicas; this node runs the unsharded store (use DELETE /api/v1/cluster/members/{id})")
        }
        guard let raw = UInt32(idText), raw >= 1 else { throw APIError.badRequest("the node id must be a whole number from 1", code: "invalid_id") }
        let outcome = try await shards.call(.decommission(NodeID(raw), draining: draining), timeout: timeout).get()
        switch outcome {
        case let .accepted(text): return JSONResponse.make(["success": true, "node_id": Int(raw), "draining": draining, "message": text])
        case let .refused(text): throw APIError.badRequest(text, code: "refused")
        default: throw ShardHost.unexpected(outcome)
        }
    }

    /// `{id, address}`: adds a node (already started with `--join`) as a learner, then
    /// promotes it to voter once the leader lets it.
    private func addMember(_ request: Request) async throws -> Response {
        let body = try await JSONBody.object(request, limit: configuration.bodyBytesMax)
        guard let idValue = body["id"] as? Int, let id = UInt32(exactly: idValue), id >= 1 else {
            throw APIError.badRequest("the request needs \"id\": the new node's id, a whole number from 1", code: "invalid_json")
        }
        let node = NodeID(id)
        if let text = body["address"] as? String {
            let address: HostPort
            do { address = try HostPort(parsing: text, what: "address") } catch {
                throw APIError.badRequest(error.description)
            }
            try await host.learnPeer(node, at: address).get()
        }
        let status = try await host.status().get()
        if !status.voters.contains(node) && !status.learners.contains(node) {
            let added = try await host.call(.changeMembership(.addLearner(node)), timeout: timeout).get()
            guard case .membershipChanged = added else { throw unexpected(added) }
        }
        // A learner is promoted only when the leader agrees it has caught up: retry.
        let deadline = ContinuousClock.now + .milliseconds(configuration.requestTimeoutMilliseconds * 4)
        while true {
            let result = try await host.call(.changeMembership(.promote(node)), timeout: timeout).get()
            if case .membershipChanged = result { break }
            guard ContinuousClock.now < deadline else {
                throw APIError(status: .serviceUnavailable, code: "not_caught_up",
                    message: "node \(id) was added as a learner but has not caught up to be promoted; check that it runs and retry")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return JSONResponse.make(["success": true, "id": Int(id), "role": "voter"])
    }

    private func removeMember(_ text: String) async throws -> Response {
        guard let id = UInt32(text), id >= 1 else {
            throw APIError.badRequest("the member id '\(text)' must be a whole number from 1")
        }
        let result = try await host.call(.changeMembership(.remove(NodeID(id))), timeout: timeout).get()
        guard case .membershipChanged = result else { throw unexpected(result) }
        return JSONResponse.make(["success": true, "id": Int(id)])
    }

    // MARK: metrics

    private func metricsJSON() async throws -> Response {
        let status = try await host.status().get()
        return JSONResponse.make(MetricsReport(status: status).json)
    }

    private func metricsText() async throws -> Response {
        let status = try await host.status().get()
        metrics.update(from: status)
        guard let text = metrics.prometheusText else {
            throw APIError(status: .notFound, code: "monitoring_disabled",
                message: "this server was built without the Monitoring trait; use /api/v1/metrics, or rebuild with the trait on")
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: input

    /// `?consistency=linearizable` (the default: confirmed with the leader) or
    /// `?consistency=local` (this node's applied state; fast, possibly stale).
    private func localConsistency(_ request: Request) throws -> Bool {
        switch request.uri.queryParameters.get("consistency") {
        case nil, "linearizable": return false
        case "local": return true
        case let other?: throw APIError.badRequest("consistency '\(other)' must be linearizable or local")
        }
    }

    private func pathKey(_ context: BasicRequestContext) throws -> String {
        let raw = context.parameters.getCatchAll().joined(separator: "/")
        guard let key = raw.removingPercentEncoding, !key.isEmpty else {
            throw APIError.badRequest("the key in the path is empty or wrongly percent-encoded")
        }
        return key
    }

    private func identity(_ request: Request) throws -> (clientID: UInt64, sequence: UInt64)? {
        try RESTIdentity.parse(request)
    }

    private func unexpected(_ result: KVResult) -> APIError {
        APIError(status: .internalServerError, code: "internal", message: "the cluster answered with an unexpected result (\(result)); please report it")
    }
}

/// `X-Aegis-Request-Id: CLIENT-SEQUENCE` (decimal): a retry with the same id is applied once.
enum RESTIdentity {
    static func parse(_ request: Request) throws -> (clientID: UInt64, sequence: UInt64)? {
        guard let text = request.headers[RESTRoutes.requestIDHeader] else { return nil }
        let parts = text.split(separator: "-")
        guard parts.count == 2, let client = UInt64(parts[0]), let sequence = UInt64(parts[1]), client != 0, sequence != 0 else {
            throw APIError.badRequest("X-Aegis-Request-Id must be CLIENT-SEQUENCE, two non-zero whole numbers like 8121-4")
        }
        return (client, sequence)
    }
}

/// A key, checked against the engine's limits.
enum KeyInput {
    static func bytes(_ key: String, allowEmpty: Bool = false) throws -> [UInt8] {
        let bytes = Array(key.utf8)
        guard allowEmpty || !bytes.isEmpty else { throw APIError.badRequest("the key must not be empty", code: "invalid_key") }
        guard bytes.count <= KVLimits.keyBytesMax else {
            throw APIError(status: .badRequest, code: "key_too_large",
                message: "the key is \(bytes.count) bytes; keys are at most \(KVLimits.keyBytesMax) bytes")
        }
        return bytes
    }
}

/// `{key, value, ttl?}` from a request body.
struct EntryInput: Sendable {
    var key: String
    var valueJSON: String
    var ttlSeconds: Int?

    init(_ object: [String: Any], what: String) throws {
        guard let key = object["key"] as? String else {
            throw APIError.badRequest("\(what) needs \"key\": a string", code: "invalid_json")
        }
        _ = try KeyInput.bytes(key)
        guard object.keys.contains("value"), let value = object["value"], let json = JSONText.encode(value) else {
            throw APIError.badRequest("\(what) needs \"value\": any JSON value", code: "invalid_json")
        }
        self.key = key
        valueJSON = json
        if let ttl = object["ttl"], !(ttl is NSNull) {
            guard let seconds = ttl as? Int, seconds >= 1, seconds <= 10 * 365 * 86_400 else {
                throw APIError.badRequest("\(what): \"ttl\" must be a whole number of seconds from 1 to 315360000, or null", code: "invalid_ttl")
            }
            ttlSeconds = seconds
        }
    }
}

extension KVEntry {
    func storedChecked() throws -> [UInt8] {
        let bytes = stored
        guard bytes.count <= KVLimits.valueBytesMax else {
            throw APIError(status: .contentTooLarge, code: "value_too_large",
                message: "the value of '\(key)' is \(bytes.count) bytes stored; values are at most \(KVLimits.valueBytesMax) bytes")
        }
        return bytes
    }
}

enum JSONBody {
    static func object(_ request: Request, limit: Int) async throws -> [String: Any] {
        let buffer = try await request.body.collect(upTo: limit)
        guard buffer.readableBytes > 0 else {
            throw APIError.badRequest("the request needs a JSON object body", code: "invalid_json")
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed]) else {
            throw APIError.badRequest("the request body is not valid JSON; send an object such as {\"key\":\"a\",\"value\":1}", code: "invalid_json")
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError.badRequest("the request body must be a JSON object, not \(type(of: parsed))", code: "invalid_json")
        }
        return object
    }

    static func strings(_ object: [String: Any], _ field: String, max: Int) throws -> [String] {
        guard let values = object[field] as? [String] else {
            throw APIError.badRequest("the request needs \"\(field)\": a list of strings", code: "invalid_json")
        }
        guard values.count <= max else { throw APIError.badRequest("\"\(field)\" holds at most \(max) items; split the batch") }
        return values
    }
}
