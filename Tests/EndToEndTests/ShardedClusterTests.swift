import AegisTestSupport
import Foundation
import Testing

/// End-to-end tests of the sharded store (`--shards N`) on real `aegis server`
/// processes: the shard listing on every surface, and batches across shards that are
/// atomic for readers while a node is killed and restarted.
@Suite(.serialized)
struct ShardedClusterTests {
    static let dataShards = 8

    /// Three nodes with eight data shards. `aegis status` and
    /// `/api/v1/cluster/shards` list every shard with a leader; writers set the same
    /// value under keys that live on different shards, in one batch each, while readers
    /// read all the keys in one batch and must never see them differ (a half-applied
    /// batch). Node 3 is killed with SIGKILL midway and restarted; afterwards every node
    /// lists the same keys and values.
    @Test(.timeLimit(.minutes(2)))
    func crossShardBatchesStayAtomicThroughAKill() async throws {
        let cluster = try LiveCluster(size: 3)
        cluster.serverArguments = ["--shards", "\(ShardedClusterTests.dataShards)"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        try await waitForShardLeaders(cluster, nodes: [1, 2, 3])

        let status = try AegisProcess.run(["status", "--endpoint", cluster.endpoints.joined(separator: ",")])
        #expect(status.status == 0, "aegis status failed: \(status.output)")
        let dataRows = status.output.split(separator: "\n").filter { $0.contains(" data ") }
        #expect(dataRows.count == ShardedClusterTests.dataShards, "aegis status lists \(dataRows.count) data shards:\n\(status.output)")
        for row in dataRows {
            let leader = row.split(separator: " ").last.map(String.init) ?? "-"
            #expect(Int(leader) != nil, "a shard without a leader in aegis status: \(row)")
        }

        // Keys spread over the shards (the default split keys are single characters).
        let map = try await cluster.request("GET", cluster.nodes[0].endpoint + "/api/v1/cluster/shards").json
        let ranges = (map["shards"] as? [[String: Any]] ?? []).filter { $0["role"] as? String == "data" }
        let keys = ranges.map { shard -> String in
            let start = (shard["range"] as? [String: Any])?["start"] as? String ?? ""
            return (start.isEmpty ? "0" : start) + "acct"
        }
        #expect(Set(keys).count == ShardedClusterTests.dataShards)

        let tooBig = try JSONSerialization.data(withJSONObject: ["key": "big", "value": String(repeating: "x", count: 70_000)])
        let refused = try await cluster.request("POST", cluster.nodes[0].endpoint + "/api/v1/kv/keys", body: tooBig)
        #expect(refused.status == 413)
        #expect(refused.json["code"] as? String == "value_too_large")

        // A transfer across two shards as one transaction, and one refused for lack of funds.
        let base = cluster.nodes[1].endpoint + "/api/v1/kv/txn"
        func txn(_ operations: [[String: Any]]) async throws -> (status: Int, json: [String: Any]) {
            let answer = try await cluster.request("POST", base, body: try JSONSerialization.data(withJSONObject: ["operations": operations]))
            return (answer.status, answer.json)
        }
        let (payer, payee) = (keys[0] + "-balance", keys[keys.count - 1] + "-balance")
        #expect(try await txn([["op": "put", "key": payer, "value": 100], ["op": "put", "key": payee, "value": 0]]).status == 200)
        let moved = try await txn([["op": "add", "key": payer, "delta": -30, "min": 0], ["op": "add", "key": payee, "delta": 30],
                                   ["op": "get", "key": payer], ["op": "get", "key": payee]])
        #expect(moved.status == 200)
        #expect((moved.json["reads"] as? [[String: Any]])?.compactMap { $0["value"] as? Int } == [70, 30])
        let overdraft = try await txn([["op": "add", "key": payer, "delta": -500, "min": 0], ["op": "add", "key": payee, "delta": 500]])
        #expect(overdraft.status == 409 && overdraft.json["code"] as? String == "condition_failed" && overdraft.json["current"] as? Int == 70)
        let after = try await txn([["op": "get", "key": payer], ["op": "get", "key": payee]])
        #expect((after.json["reads"] as? [[String: Any]])?.compactMap { $0["value"] as? Int } == [70, 30], "a refused transaction wrote nothing")

        // SQL on the sharded store: any node runs it, the CLI's transaction travels whole,
        // a refused transfer writes nothing, and every node answers the same.
        let created = try AegisProcess.run(["sql", "--endpoint", cluster.nodes[0].endpoint,
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0)); "
                + "INSERT INTO accounts VALUES (1, 100), (2, 100), (3, 100)"])
        #expect(created.status == 0, "\(created.output)")
        let transfer = try AegisProcess.run(["sql", "--endpoint", cluster.nodes[1].endpoint,
            "BEGIN; UPDATE accounts SET balance = balance + 30 WHERE id = 2; UPDATE accounts SET balance = balance - 30 WHERE id = 1; COMMIT"])
        #expect(transfer.status == 0, "\(transfer.output)")
        let refusedTransfer = try AegisProcess.run(["sql", "--endpoint", cluster.nodes[2].endpoint,
            "BEGIN; UPDATE accounts SET balance = balance + 500 WHERE id = 3; UPDATE accounts SET balance = balance - 500 WHERE id = 1; COMMIT"])
        #expect(refusedTransfer.status == 1 && refusedTransfer.output.contains("CHECK"), "\(refusedTransfer.output)")
        var answers: [String] = []
        for node in cluster.nodes {
            let answer = try await cluster.request("POST", node.endpoint + "/api/v1/query",
                body: Data(#"{"sql":"SELECT id, balance FROM accounts ORDER BY id"}"#.utf8))
            #expect(answer.status == 200, "\(answer.text)")
            answers.append(((answer.json["data"] as? [String: Any])?["rows"] as? [[Int]])?.description ?? answer.text)
        }
        #expect(answers == Array(repeating: "[[1, 70], [2, 130], [3, 100]]", count: 3), "\(answers)")
        let table = try await cluster.request("GET", cluster.nodes[2].endpoint + "/api/v1/tables/accounts")
        #expect((table.json["table"] as? [String: Any])?["row_count"] as? Int == 3, "\(table.text)")

        // Keys SQL and the cluster keep for themselves are neither writable nor listed.
        let reserved = try await cluster.request("POST", cluster.nodes[0].endpoint + "/api/v1/kv/keys",
            body: try JSONSerialization.data(withJSONObject: ["key": "\u{1}", "value": 1]))
        #expect(reserved.status == 400 && reserved.json["code"] as? String == "invalid_key", "\(reserved.text)")
        let listed = try await cluster.request("GET", cluster.nodes[0].endpoint + "/api/v1/kv/keys")
        let listedKeys = (listed.json["keys"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
        #expect(!listedKeys.isEmpty && listedKeys.allSatisfy { ($0.unicodeScalars.first?.value ?? 0) >= 0x20 }, "\(listed.text)")
        #expect(listed.json["total"] as? Int == listedKeys.count, "the total counts no SQL rows: \(listed.text)")

        // A request sent twice with one X-Aegis-Request-Id applies once and answers the same.
        func sent(_ path: String, _ json: String, id: String) async throws -> (status: Int, text: String) {
            let answer = try await cluster.request("POST", cluster.nodes[2].endpoint + path, body: Data(json.utf8),
                                                   headers: ["X-Aegis-Request-Id": id])
            return (answer.status, answer.text.replacingOccurrences(of: #""execution_time_ms":[0-9.]+"#, with: "", options: .regularExpression))
        }
        let deposit = #"{"sql":"UPDATE accounts SET balance = balance + 5 WHERE id = 3"}"#
        let firstDeposit = try await sent("/api/v1/query", deposit, id: "77-2")
        #expect(firstDeposit.status == 200, "\(firstDeposit.text)")
        #expect(try await sent("/api/v1/query", deposit, id: "77-2") == firstDeposit)
        #expect(try await sent("/api/v1/query", deposit, id: "77-1").status == 400, "an older sequence of the client is refused")
        let addOne = #"{"operations":[{"op":"add","key":"\#(payee)","delta":1},{"op":"get","key":"\#(payee)"}]}"#
        let firstAdd = try await sent("/api/v1/kv/txn", addOne, id: "78-1")
        #expect(firstAdd.status == 200 && firstAdd.text.contains("31"), "\(firstAdd.text)")
        #expect(try await sent("/api/v1/kv/txn", addOne, id: "78-1") == firstAdd)
        let balances = try await cluster.request("POST", cluster.nodes[0].endpoint + "/api/v1/query",
            body: Data(#"{"sql":"SELECT balance FROM accounts WHERE id = 3"}"#.utf8))
        #expect(((balances.json["data"] as? [String: Any])?["rows"] as? [[Int]]) == [[105]], "the deposit applied once: \(balances.text)")
        #expect((try await txn([["op": "get", "key": payee]]).json["reads"] as? [[String: Any]])?.first?["value"] as? Int == 31,
                "the add applied once")
        #expect(try await txn([["op": "add", "key": payee, "delta": -1]]).status == 200)
        let batch = #"{"entries":[{"key":"once-a","value":1},{"key":"once-b","value":2}]}"#
        #expect(try await sent("/api/v1/kv/batch/set", batch, id: "79-1").status == 200)
        #expect(try await txn([["op": "put", "key": "once-a", "value": 5]]).status == 200)
        #expect(try await sent("/api/v1/kv/batch/set", batch, id: "79-1").status == 200)
        #expect((try await txn([["op": "get", "key": "once-a"]]).json["reads"] as? [[String: Any]])?.first?["value"] as? Int == 5,
                "a retried batch applied already writes nothing")

        let tally = BatchTally()
        let writing = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<2 {
                    group.addTask {
                        var round = 0
                        while await !tally.stopped {
                            round += 1
                            let value = writer * 1_000_000 + round
                            let body = try! JSONSerialization.data(withJSONObject: ["entries": keys.map { ["key": $0, "value": value] }])
                            let node = cluster.nodes[(writer + round) % 2]
                            if let answer = try? await cluster.request("POST", node.endpoint + "/api/v1/kv/batch/set", body: body),
                               answer.status == 200 {
                                await tally.wrote()
                            }
                        }
                    }
                }
                group.addTask {
                    let body = try! JSONSerialization.data(withJSONObject: ["keys": keys])
                    var round = 0
                    while await !tally.stopped {
                        round += 1
                        let node = cluster.nodes[round % 2]
                        guard let answer = try? await cluster.request("POST", node.endpoint + "/api/v1/kv/batch/get", body: body),
                              answer.status == 200 else { continue }
                        let entries = answer.json["entries"] as? [[String: Any]] ?? []
                        let values = entries.compactMap { $0["value"] as? Int }
                        await tally.read(values, keys: keys.count)
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(2000))
        cluster.kill9(3)
        try await Task.sleep(for: .milliseconds(2000))
        try cluster.start(3)
        try await waitForShardLeaders(cluster, nodes: [1, 2, 3])
        try await Task.sleep(for: .milliseconds(1000))
        await tally.stop()
        await writing.value

        let (writes, reads, torn) = await tally.figures
        #expect(writes > 0, "no cross-shard batch was acknowledged")
        #expect(reads > 0, "no batch read answered")
        let tornReads = torn.count
        #expect(tornReads == 0, "batch reads saw half-applied batches, e.g. \(torn.prefix(3))")

        // Every node serves the same final values (each read is a transaction, so any
        // node answers with the committed state).
        var listings: [String] = []
        for node in cluster.nodes {
            let answer = try await cluster.request("POST", node.endpoint + "/api/v1/kv/batch/get",
                body: try JSONSerialization.data(withJSONObject: ["keys": keys]), timeoutSeconds: 10)
            let values = (answer.json["entries"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? Int }
            #expect(values.count == keys.count && Set(values).count == 1, "node \(node.id) answered \(answer.text)")
            listings.append(values.map(String.init).joined(separator: ","))
        }
        #expect(Set(listings).count == 1, "the nodes disagree: \(listings)")

        // A node restarted without --shards refuses its sharded data directory.
        #expect(cluster.terminate(2) == 0)
        cluster.serverArguments = []
        try cluster.start(2)
        try await LiveCluster.wait(seconds: 15, "node 2 to refuse starting without --shards") { !cluster.isRunning(2) }
        #expect(cluster.logs().contains("holds a sharded store; start this node with the --shards it was created with"))
    }

    /// Four nodes, four data shards of three replicas: `aegis cluster decommission 4`
    /// moves every replica off node 4 (the map lists it nowhere, and node 4 hosts none),
    /// while the data stays readable; `recommission` takes it back. Nodes 1–3 hold all
    /// data at the end.
    @Test(.timeLimit(.minutes(2)))
    func decommissioningANodeMovesItsReplicasAway() async throws {
        let cluster = try LiveCluster(size: 4)
        cluster.serverArguments = ["--shards", "4"]
        defer { cluster.stopAll() }
        try cluster.startAll()
        let endpoint = cluster.nodes[0].endpoint
        try await LiveCluster.wait(seconds: 30, "a leader for every shard") {
            guard let answer = try? await cluster.request("GET", endpoint + "/api/v1/cluster/shards", timeoutSeconds: 2),
                  let shards = answer.json["shards"] as? [[String: Any]] else { return false }
            return shards.count == 5 && shards.allSatisfy { $0["leader_id"] is Int }
        }
        let keys = ["0a", "Ba", "La", "qa"]
        let body = try JSONSerialization.data(withJSONObject: ["entries": keys.map { ["key": $0, "value": $0] }])
        #expect(try await cluster.request("POST", endpoint + "/api/v1/kv/batch/set", body: body).status == 200)

        let order = try AegisProcess.run(["cluster", "decommission", "4", "--endpoint", cluster.nodes[1].endpoint])
        #expect(order.status == 0, "\(order.output)")
        try await LiveCluster.wait(seconds: 60, "node 4 to hold no replica") {
            guard let answer = try? await cluster.request("GET", endpoint + "/api/v1/cluster/shards", timeoutSeconds: 2),
                  let shards = answer.json["shards"] as? [[String: Any]],
                  (answer.json["decommissioning"] as? [Int]) == [4],
                  let onFour = try? await cluster.request("GET", cluster.nodes[3].endpoint + "/api/v1/cluster/shards", timeoutSeconds: 2),
                  let hostedOnFour = onFour.json["shards"] as? [[String: Any]] else { return false }
            let listed = shards.contains { (($0["replicas"] as? [Int]) ?? []).contains(4) || (($0["learners"] as? [Int]) ?? []).contains(4) }
            let hosted = hostedOnFour.contains { $0["hosted_here"] as? Bool == true }
            return !listed && !hosted
        }
        let status = try AegisProcess.run(["status", "--endpoint", endpoint])
        #expect(status.output.contains("decommissioning: 4"), "\(status.output)")
        let read = try await cluster.request("POST", cluster.nodes[2].endpoint + "/api/v1/kv/batch/get",
            body: try JSONSerialization.data(withJSONObject: ["keys": keys]))
        #expect((read.json["entries"] as? [[String: Any]])?.count == keys.count, "\(read.text)")
        let back = try AegisProcess.run(["cluster", "recommission", "4", "--endpoint", endpoint])
        #expect(back.status == 0, "\(back.output)")
        let unsharded = try AegisProcess.run(["cluster", "decommission", "0", "--endpoint", endpoint])
        #expect(unsharded.status == 2, "\(unsharded.output)")
    }

    /// Waits until each node's shard listing names every data shard with a leader.
    private func waitForShardLeaders(_ cluster: LiveCluster, nodes: [Int]) async throws {
        let lastSeen = LastSeen()
        do {
            try await LiveCluster.wait(seconds: 30, "every node to see a leader for each of the \(ShardedClusterTests.dataShards) data shards") {
                for id in nodes {
                    guard let answer = try? await cluster.request("GET", cluster.nodes[id - 1].endpoint + "/api/v1/cluster/shards", timeoutSeconds: 2),
                          let shards = answer.json["shards"] as? [[String: Any]] else {
                        await lastSeen.note("node \(id) did not answer")
                        return false
                    }
                    let data = shards.filter { $0["role"] as? String == "data" }
                    guard data.count == ShardedClusterTests.dataShards, data.allSatisfy({ $0["leader_id"] is Int }) else {
                        await lastSeen.note("node \(id) sees \(answer.text)")
                        return false
                    }
                }
                return true
            }
        } catch {
            Issue.record("last seen: \(await lastSeen.text)")
            throw error
        }
    }
}

actor LastSeen {
    private(set) var text = "nothing"
    func note(_ seen: String) { text = seen }
}

/// What the batch writers and readers saw.
actor BatchTally {
    private(set) var stopped = false
    private var writes = 0
    private var reads = 0
    private var torn: [[Int]] = []

    func wrote() { writes += 1 }

    /// A read before the first batch sees no keys; after it, all of them with one value.
    func read(_ values: [Int], keys: Int) {
        reads += 1
        if values.isEmpty { return }
        if values.count != keys || Set(values).count != 1 { torn.append(values) }
    }

    func stop() { stopped = true }
    var figures: (writes: Int, reads: Int, torn: [[Int]]) { (writes, reads, torn) }
}
