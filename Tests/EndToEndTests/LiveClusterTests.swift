import AegisClient
import AegisTestSupport
import Foundation
import Testing

/// End-to-end tests on real `aegis server` processes on loopback. Each is bounded in
/// time; every server is killed when the test ends, pass or fail.
@Suite(.serialized)
struct LiveClusterTests {
    /// Three nodes; the CLI and SDK clients write while the leader is killed with
    /// SIGKILL. A new leader must be elected, writes must go on, and after the old
    /// leader restarts (recovering from its disk) every acknowledged write must be
    /// present on every node.
    @Test(.timeLimit(.minutes(2)))
    func killNineTheLeaderWhileClientsWrite() async throws {
        let cluster = try LiveCluster(size: 3)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let oldLeader = try await cluster.agreedLeader(among: [1, 2, 3])

        let cli = try runCLI(["kv", "set", "cli-key", "from-cli", "--endpoint", cluster.endpoints.joined(separator: ",")])
        #expect(cli.status == 0, "aegis kv set failed: \(cli.output)")

        let client = try AegisClient(endpoints: cluster.endpoints.map { text throws(ClientError) in try Endpoint(parsing: text) },
                                     retry: RetryPolicy(attemptsMax: 8, initialDelayMilliseconds: 50, delayMaxMilliseconds: 500),
                                     requestTimeoutMilliseconds: 3_000)
        let log = AcknowledgementLog()
        let writers = 4
        let keysPerWriterMax = 900
        let writing = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<keysPerWriterMax {
                            if await log.stopped { return }
                            let key = "w\(writer)-\(String(format: "%04d", index))"
                            if (try? await client.set(key, valueJSON: "\(index)")) != nil {
                                await log.acknowledge(writer: writer, key: key)
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(1500))
        let beforeKill = await log.count
        cluster.kill9(oldLeader)
        let survivors = [1, 2, 3].filter { $0 != oldLeader }
        let newLeader = try await cluster.agreedLeader(among: survivors, seconds: 15)
        #expect(newLeader != oldLeader)
        try await Task.sleep(for: .milliseconds(2000))
        await log.stop()
        await writing.value
        try await client.shutdown()
        let total = await log.count
        #expect(beforeKill > 0, "no write was acknowledged before the kill")
        #expect(total > beforeKill, "no write was acknowledged after the leader was killed")

        // The old leader comes back and catches up from its disk and the new leader.
        try cluster.start(oldLeader)
        try await LiveCluster.wait(seconds: 20, "node \(oldLeader) to catch up") {
            guard let leaderInfo = await cluster.info(newLeader), let commit = leaderInfo["commit_index"] as? Int,
                  let info = await cluster.info(oldLeader), let applied = info["applied_index"] as? Int else { return false }
            return applied >= commit
        }

        for node in [1, 2, 3] {
            for writer in 0..<writers {
                let acknowledged = await log.keys(writer: writer)
                let url = cluster.nodes[node - 1].endpoint + "/api/v1/kv/keys?prefix=w\(writer)-&limit=1000&consistency=local"
                let answer = try await cluster.request("GET", url)
                let present = Set((answer.json["keys"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String })
                let missing = acknowledged.subtracting(present)
                #expect(missing.isEmpty, "node \(node) lacks \(missing.count) acknowledged writes of writer \(writer), e.g. \(missing.sorted().prefix(3))")
            }
            let cliKey = try await cluster.request("GET", cluster.nodes[node - 1].endpoint + "/api/v1/kv/keys/cli-key?consistency=local")
            #expect(cliKey.json["value"] as? String == "from-cli", "node \(node) lacks the CLI's write")
        }
    }

    /// Malformed JSON, oversized bodies and values, unknown routes and garbage on the
    /// peer port each get a clear error, and the node keeps serving; SIGTERM stops it
    /// cleanly and a restart recovers its data.
    @Test(.timeLimit(.minutes(1)))
    func badInputGetsClearErrorsAndTheNodeKeepsServing() async throws {
        let cluster = try LiveCluster(size: 1)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try await cluster.agreedLeader(among: [1])
        let base = cluster.nodes[0].endpoint

        let malformed = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\": \"a\", ".utf8))
        #expect(malformed.status == 400)
        #expect(malformed.json["code"] as? String == "invalid_json")
        #expect(malformed.json["success"] as? Bool == false)

        let notAnObject = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("[1,2]".utf8))
        #expect(notAnObject.status == 400)

        let oversizedBody = Data(repeating: UInt8(ascii: "a"), count: 5 << 20)
        let tooLarge = try await cluster.request("POST", base + "/api/v1/kv/keys", body: oversizedBody)
        #expect(tooLarge.status == 413)
        #expect(tooLarge.json["code"] as? String == "body_too_large")

        let bigValue = try JSONSerialization.data(withJSONObject: ["key": "big", "value": String(repeating: "x", count: 300_000)])
        let valueTooLarge = try await cluster.request("POST", base + "/api/v1/kv/keys", body: bigValue)
        #expect(valueTooLarge.status == 413)
        #expect(valueTooLarge.json["code"] as? String == "value_too_large")

        let bigKey = try JSONSerialization.data(withJSONObject: ["key": String(repeating: "k", count: 5000), "value": 1])
        let keyTooLarge = try await cluster.request("POST", base + "/api/v1/kv/keys", body: bigKey)
        #expect(keyTooLarge.status == 400)
        #expect(keyTooLarge.json["code"] as? String == "key_too_large")

        let unknown = try await cluster.request("GET", base + "/api/v1/nothing/here")
        #expect(unknown.status == 404)
        #expect(unknown.json["code"] as? String == "unknown_route")

        let notSharded = try await cluster.request("GET", base + "/api/v1/cluster/shards")
        #expect(notSharded.status == 404)
        #expect(notSharded.json["code"] as? String == "not_sharded")
        let noTransactions = try await cluster.request("POST", base + "/api/v1/kv/txn", body: Data(#"{"operations":[{"op":"get","key":"a"}]}"#.utf8))
        #expect(noTransactions.status == 404)
        #expect(noTransactions.json["code"] as? String == "not_sharded")

        let missing = try await cluster.request("GET", base + "/api/v1/kv/keys/absent")
        #expect(missing.status == 404)
        #expect(missing.json["code"] as? String == "not_found")

        let peerPort = cluster.nodes[0].raftPort
        #expect(LiveCluster.sendGarbage(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), toPort: peerPort),
                "the peer port kept a connection that sent HTTP")
        #expect(LiveCluster.sendGarbage([0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 7, count: 64), toPort: peerPort),
                "the peer port kept a connection that announced a 4 GiB frame")
        #expect(LiveCluster.sendGarbage([0, 0, 0, 4, 1, 2, 3, 4, 9, 9, 9, 9], toPort: peerPort),
                "the peer port kept a connection whose frame failed its checksum")

        // Still serving.
        let health = try await cluster.request("GET", base + "/health")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "healthy")
        let write = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\":\"after\",\"value\":[1,2,3]}".utf8))
        #expect(write.status == 200)
        let metrics = try await cluster.request("GET", base + "/api/v1/metrics")
        #expect((metrics.json["peer_connections_rejected_total"] as? Double ?? 0) >= 3)
        #expect(cluster.isRunning(1))

        // SIGTERM: a clean exit; the restart recovers the write from disk.
        #expect(cluster.terminate(1) == 0, "the server did not exit cleanly on SIGTERM:\n\(cluster.logs())")
        try cluster.start(1)
        _ = try await cluster.agreedLeader(among: [1])
        let recovered = try await cluster.request("GET", base + "/api/v1/kv/keys/after")
        #expect(recovered.status == 200)
        #expect(recovered.json["value"] as? [Int] == [1, 2, 3])
    }

    /// Membership changes through the CLI, time to live, request ids that make a
    /// retried write apply once, and `aegis status`.
    @Test(.timeLimit(.minutes(1)))
    func membershipTimeToLiveAndRetriesThatApplyOnce() async throws {
        let cluster = try LiveCluster(size: 3, joiners: 1)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try await cluster.agreedLeader(among: [1, 2, 3])
        let endpoints = cluster.endpoints.joined(separator: ",")
        let base = cluster.nodes[leader - 1].endpoint

        let written = try runCLI(["kv", "set", "before-join", "42", "--endpoint", endpoints])
        #expect(written.status == 0, "\(written.output)")
        let joiner = cluster.nodes[3]
        let added = try runCLI(["cluster", "members", "add", "4", "127.0.0.1:\(joiner.raftPort)", "--endpoint", endpoints])
        #expect(added.status == 0, "members add failed: \(added.output)\n\(cluster.logs())")
        try await LiveCluster.wait(seconds: 15, "node 4 to hold the data written before it joined") {
            let answer = try? await cluster.request("GET", joiner.endpoint + "/api/v1/kv/keys/before-join?consistency=local")
            return answer?.json["value"] as? Int == 42
        }
        let voters = await cluster.info(leader)?["voters"] as? [Int]
        #expect(voters == [1, 2, 3, 4])
        let listed = try runCLI(["cluster", "members", "--endpoint", endpoints, "--format", "json"])
        #expect(listed.status == 0 && listed.output.contains("127.0.0.1:\(joiner.raftPort)"), "\(listed.output)")
        let removed = try runCLI(["cluster", "members", "remove", "4", "--endpoint", endpoints])
        #expect(removed.status == 0, "members remove failed: \(removed.output)")
        let votersAfter = await cluster.info(leader)?["voters"] as? [Int]
        #expect(votersAfter == [1, 2, 3])

        // A key with a time to live disappears after it.
        let short = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\":\"brief\",\"value\":\"x\",\"ttl\":1}".utf8))
        #expect(short.status == 200)
        #expect(try await cluster.request("GET", base + "/api/v1/kv/keys/brief").status == 200)
        try await Task.sleep(for: .milliseconds(1300))
        let expired = try await cluster.request("GET", base + "/api/v1/kv/keys/brief")
        #expect(expired.status == 404)
        let listing = try await cluster.request("GET", base + "/api/v1/kv/keys?prefix=brief")
        #expect((listing.json["keys"] as? [Any])?.isEmpty == true)

        // The same request id twice: the second send is answered, not applied again,
        // so it cannot undo the write made in between.
        let first = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\":\"once\",\"value\":1}".utf8),
                                              headers: ["X-Aegis-Request-Id": "4242-1"])
        #expect(first.status == 200)
        _ = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\":\"once\",\"value\":2}".utf8))
        let retried = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\":\"once\",\"value\":1}".utf8),
                                                headers: ["X-Aegis-Request-Id": "4242-1"])
        #expect(retried.status == 200)
        let value = try await cluster.request("GET", base + "/api/v1/kv/keys/once")
        #expect(value.json["value"] as? Int == 2, "the retried request was applied a second time")
        let badID = try await cluster.request("POST", base + "/api/v1/kv/keys", body: Data("{\"key\":\"x\",\"value\":1}".utf8),
                                              headers: ["X-Aegis-Request-Id": "nonsense"])
        #expect(badID.status == 400)

        let status = try runCLI(["status", "--endpoint", cluster.nodes[0].endpoint])
        #expect(status.status == 0)
        #expect(status.output.components(separatedBy: "\n").filter { $0.contains("leader") }.count >= 1, "\(status.output)")
        let unreachable = try runCLI(["kv", "get", "x", "--endpoint", "http://127.0.0.1:1"])
        #expect(unreachable.status == 5)
        #expect(unreachable.output.hasPrefix("error: no Aegis node answered"))
    }

    /// HTTPS for clients and mutual TLS between nodes: the cluster elects a leader over
    /// TLS, the CLI writes and reads over HTTPS trusting the cluster's authority, and a
    /// plain-text peer or client is turned away.
    @Test(.timeLimit(.minutes(1)))
    func tlsForClientsAndBetweenNodes() async throws {
        let cluster = try LiveCluster(size: 3, tls: true)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try await cluster.agreedLeader(among: [1, 2, 3])
        let authority = cluster.certificates!.authority
        let endpoints = cluster.endpoints.joined(separator: ",")
        #expect(endpoints.hasPrefix("https://"))

        let set = try runCLI(["kv", "set", "secure", "{\"a\":1}", "--endpoint", endpoints, "--ca-cert", authority])
        #expect(set.status == 0, "\(set.output)\n\(cluster.logs())")
        let follower = [1, 2, 3].first { $0 != leader }!
        let get = try runCLI(["kv", "get", "secure", "--endpoint", cluster.nodes[follower - 1].endpoint, "--ca-cert", authority, "--format", "json"])
        #expect(get.status == 0 && get.output.contains("\"a\" : 1"), "\(get.output)")

        // Without the authority the client refuses the server's certificate.
        let untrusted = try runCLI(["kv", "get", "secure", "--endpoint", cluster.nodes[leader - 1].endpoint])
        #expect(untrusted.status != 0)
        // A plain-text HTTP client and a plain-text peer get nowhere.
        #expect(LiveCluster.sendGarbage(Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8), toPort: cluster.nodes[0].httpPort))
        let hello = [UInt8]("AEGH".utf8) + [1]
        #expect(LiveCluster.sendGarbage([0, 0, 0, UInt8(hello.count), 0, 0, 0, 0] + hello, toPort: cluster.nodes[0].raftPort))
        let health = try await cluster.request("GET", cluster.nodes[0].endpoint + "/health")
        #expect(health.status == 200)
    }

    /// SQL through the log: a table written on one node answers the same on every
    /// node in the original response shape; errors are 4xx with a code; prepared
    /// statements and the tables routes; `aegis sql` against the cluster and embedded.
    @Test(.timeLimit(.minutes(1)))
    func sqlAnswersTheSameOnEveryNode() async throws {
        let cluster = try LiveCluster(size: 3)
        defer { cluster.stopAll() }
        try cluster.startAll()
        _ = try await cluster.agreedLeader(among: [1, 2, 3])
        func query(_ node: Int, _ sql: String, params: [Any] = []) async throws -> LiveCluster.Answer {
            let body = try JSONSerialization.data(withJSONObject: ["sql": sql, "params": params])
            return try await cluster.request("POST", cluster.nodes[node - 1].endpoint + "/api/v1/query", body: body)
        }
        let one = try await query(2, "SELECT 1+1")
        #expect(one.status == 200)
        #expect(one.json["success"] as? Bool == true && one.json["execution_time_ms"] is Double, "\(one.text)")
        let data = one.json["data"] as? [String: Any]
        #expect(data?["columns"] as? [String] == ["1+1"] && (data?["rows"] as? [[Int]]) == [[2]] && data?["rows_affected"] as? Int == 0, "\(one.text)")

        let created = try await query(1, "CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER CHECK (balance >= 0)); "
            + "INSERT INTO acct VALUES ($1, $2, 100), (2, 'bob', 50)", params: [1, "ann"])
        #expect(created.status == 200 && (created.json["data"] as? [String: Any])?["rows_affected"] as? Int == 2, "\(created.text)")
        let transfer = try await query(3, "BEGIN; UPDATE acct SET balance = balance - 30 WHERE id = 1; UPDATE acct SET balance = balance + 30 WHERE id = 2; COMMIT")
        #expect(transfer.status == 200, "\(transfer.text)")
        let overdraft = try await query(2, "UPDATE acct SET balance = balance - 500 WHERE id = 2")
        #expect(overdraft.status == 400 && overdraft.json["code"] as? String == "sql_constraint", "\(overdraft.text)")
        for node in 1...3 {
            let rows = try await query(node, "SELECT owner, balance FROM acct ORDER BY id")
            #expect(rows.text.contains("\"rows\":[[\"ann\",70],[\"bob\",80]]"), "node \(node): \(rows.text)")
        }
        let syntax = try await query(1, "SELEC 1")
        #expect(syntax.status == 400 && syntax.json["code"] as? String == "sql_syntax" && syntax.json["success"] as? Bool == false)

        let prepared = try await cluster.request("POST", cluster.nodes[0].endpoint + "/api/v1/prepare",
                                                 body: Data("{\"sql\":\"SELECT balance FROM acct WHERE id = $1\"}".utf8))
        let id = prepared.json["statement_id"] as? String ?? ""
        let executed = try await cluster.request("POST", cluster.nodes[0].endpoint + "/api/v1/prepared/execute",
                                                 body: try JSONSerialization.data(withJSONObject: ["statement_id": id, "params": [2]]))
        #expect(executed.text.contains("\"rows\":[[80]]"), "\(executed.text)")
        #expect(try await cluster.request("DELETE", cluster.nodes[0].endpoint + "/api/v1/prepared/" + id).status == 200)
        #expect(try await cluster.request("POST", cluster.nodes[0].endpoint + "/api/v1/prepared/execute",
                                          body: Data("{\"statement_id\":\"\(id)\"}".utf8)).status == 404)
        let table = try await cluster.request("GET", cluster.nodes[2].endpoint + "/api/v1/tables/acct")
        #expect((table.json["table"] as? [String: Any])?["row_count"] as? Int == 2, "\(table.text)")

        let cli = try runCLI(["sql", "SELECT sum(balance) FROM acct", "--endpoint", cluster.endpoints.joined(separator: ","), "--format", "csv"])
        #expect(cli.status == 0 && cli.output.contains("150"), "\(cli.output)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aegis-sql-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let embedded = try runCLI(["sql", "--data-dir", directory, "SELECT 1+1", "--format", "csv"])
        #expect(embedded.status == 0 && embedded.output == "1+1\n2\n", "\(embedded.output)")
        let bad = try runCLI(["sql", "--data-dir", directory, "SELECT nope"])
        #expect(bad.status == 1 && bad.output.contains("there is no column nope"), "\(bad.output)")
        let unreachable = try runCLI(["sql", "SELECT 1", "--endpoint", "http://127.0.0.1:1"])
        #expect(unreachable.status == 5, "\(unreachable.output)")
    }

    private func runCLI(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try AegisProcess.run(arguments)
        return (result.status, result.output)
    }
}

/// The writes clients saw acknowledged, per writer.
actor AcknowledgementLog {
    private var acknowledged: [Int: Set<String>] = [:]
    private(set) var stopped = false
    private(set) var count = 0

    func acknowledge(writer: Int, key: String) {
        acknowledged[writer, default: []].insert(key)
        count += 1
    }

    func keys(writer: Int) -> Set<String> { acknowledged[writer] ?? [] }
    func stop() { stopped = true }
}
