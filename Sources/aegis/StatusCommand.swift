import AegisClient
import ArgumentParser
import Foundation

/// `aegis status`: every endpoint's view of the cluster, side by side.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show each node's role, term, leader and progress.",
        discussion: "Asks every --endpoint, and the peers they know, for /api/v1/cluster/info.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let infos = try await options.withClient { client in try await StatusCommand.collect(client) }
        guard !infos.isEmpty else {
            throw CLIFailure(code: LiveExitCode.unreachable, message: ClientError.unreachable("none of \(options.endpoints.isEmpty ? ["http://127.0.0.1:9090"] : options.endpoints) answered").description)
        }
        switch options.format {
        case .json:
            Output.json(["nodes": infos.map(\.info)])
        case .table:
            Output.table(["NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "KEYS"], infos.map { item in
                let info = item.info
                return [Output.text(info["node_id"]), item.address, Output.text(info["role"]), Output.text(info["term"]),
                        Output.text(info["leader_id"]), Output.text(info["commit_index"]), Output.text(info["applied_index"]),
                        Output.text(info["keys"])]
            })
        }
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
