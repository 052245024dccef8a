import AegisClient
import ArgumentParser
import Foundation

/// `aegis status`: every endpoint's view of the cluster, side by side.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show each node's role, term, leader and progress.",
        discussion: """
            Asks every --endpoint, and the peers they know, for /api/v1/cluster/info. On a \
            cluster started with --shards N it then lists the shards (from \
            /api/v1/cluster/shards of the first node that answers): each one's key range, \
            replicas and leader. Shard 0 is the meta group that holds the shard map.
            """)
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let (infos, shards) = try await options.withClient { client in
            let infos = try await StatusCommand.collect(client)
            return (infos, await StatusCommand.shards(client, infos: infos))
        }
        guard !infos.isEmpty else {
            throw CLIFailure(code: LiveExitCode.unreachable, message: ClientError.unreachable("none of \(options.endpoints.isEmpty ? ["http://127.0.0.1:9090"] : options.endpoints) answered").description)
        }
        switch options.format {
        case .json:
            var object: [String: Any] = ["nodes": infos.map(\.info)]
            if let shards { object["shards"] = shards }
            Output.json(object)
        case .table:
            Output.table(["NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "KEYS"], infos.map { item in
                let info = item.info
                return [Output.text(info["node_id"]), item.address, Output.text(info["role"]), Output.text(info["term"]),
                        Output.text(info["leader_id"]), Output.text(info["commit_index"]), Output.text(info["applied_index"]),
                        Output.text(info["keys"])]
            })
            if let shards, let list = shards["shards"] as? [[String: Any]] {
                print("")
                print("shard map version \(Output.text(shards["map_version"])) (as node \(Output.text(shards["node_id"])) sees it)")
                if let draining = shards["decommissioning"] as? [Int], !draining.isEmpty {
                    print("decommissioning: " + draining.map(String.init).joined(separator: ", "))
                }
                Output.table(["SHARD", "ROLE", "RANGE", "REPLICAS", "LEARNERS", "LEADER"], list.map { shard in
                    [Output.text(shard["id"]), Output.text(shard["role"]), StatusCommand.rangeText(shard["range"]),
                     Output.text(shard["replicas"]), Output.text(shard["learners"]), Output.text(shard["leader_id"])]
                })
            }
        }
    }

    /// The shard listing of the first node that has one; nil on an unsharded cluster.
    static func shards(_ client: AegisClient, infos: [(address: String, info: [String: Any])]) async -> [String: Any]? {
        for item in infos {
            guard let endpoint = try? Endpoint(parsing: client.endpoints[0].scheme.rawValue + "://" + item.address) else { continue }
            do {
                return try await client.clusterShards(at: endpoint)
            } catch let error {
                if case .server(404, _, _) = error { return nil }
            }
        }
        return nil
    }

    /// `[start, end)` with quoted keys; the meta group's and the last shard's open end is `∞`.
    static func rangeText(_ value: Any?) -> String {
        guard let range = value as? [String: Any] else { return "-" }
        func key(_ value: Any?) -> String { (value as? String).map { "\"\($0)\"" } ?? "∞" }
        return "[\(key(range["start"])), \(key(range["end"])))"
    }

    /// The endpoints given, then every peer they report, each asked once.
    static func collect(_ client: AegisClient) async throws -> [(address: String, info: [String: Any])] {
        var queue = client.endpoints
        var seen = Set<String>()
        var results: [(address: String, info: [String: Any])] = []
        var lastError: ClientError?
        while let endpoint = queue.first {
            queue.removeFirst()
            guard seen.insert("\(endpoint.host):\(endpoint.port)").inserted else { continue }
            do {
                let info = try await client.clusterInfo(at: endpoint)
                results.append(("\(endpoint.host):\(endpoint.port)", info))
                if let peers = try? await client.clusterPeers(at: endpoint), let list = peers["peers"] as? [[String: Any]] {
                    for peer in list {
                        if let address = peer["http_address"] as? String,
                           let next = try? Endpoint(parsing: endpoint.scheme.rawValue + "://" + address) {
                            queue.append(next)
                        }
                    }
                }
            } catch {
                lastError = error
            }
        }
        if results.isEmpty, let lastError { throw lastError }
        return results.sorted { Output.text($0.info["node_id"]) < Output.text($1.info["node_id"]) }
    }
}
