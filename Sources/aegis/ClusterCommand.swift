import AegisClient
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `aegis cluster members ...` and `aegis cluster local`.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Manage membership, or start a local cluster to try Aegis out.",
        subcommands: [ClusterMembers.self, ClusterDecommission.self, ClusterRecommission.self, ClusterLocal.self])
}

/// `aegis cluster decommission N`: a sharded cluster moves node N's replicas away.
struct ClusterDecommission: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decommission", abstract: "On a sharded cluster, move every shard replica off a node (before retiring it).",
        discussion: "The placement driver adds a replica elsewhere, then removes the node's, shard by shard; `aegis status` shows when the node holds none.")
    @Argument(help: "The node's id.") var id: UInt32
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await ClusterDecommission.order(id, draining: true, options,
            saying: "node \(id) is draining: its replicas move to the other nodes (watch aegis status)")
    }

    /// Sends the meta leader a drain order for node `id` (or takes it back), and prints
    /// the answer, or `saying` in table form.
    static func order(_ id: UInt32, draining: Bool, _ options: ClientOptions, saying: String) async throws {
        guard id >= 1 else { throw CLIFailure.badInput("the node id must be at least 1") }
        let answer = try await options.withClient { client in try await client.decommission(node: id, draining: draining) }
        switch options.format {
        case .json: Output.json(answer)
        case .table: print(saying)
        }
    }
}

/// `aegis cluster recommission N`: node N takes replicas again.
struct ClusterRecommission: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommission", abstract: "On a sharded cluster, let a decommissioned node take shard replicas again.")
    @Argument(help: "The node's id.") var id: UInt32
    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await ClusterDecommission.order(id, draining: false, options, saying: "node \(id) takes replicas again")
    }
}

struct ClusterMembers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members", abstract: "List, add or remove cluster members (through Raft).",
        subcommands: [MembersList.self, MembersAdd.self, MembersRemove.self], defaultSubcommand: MembersList.self)
}

struct MembersList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the members and their addresses.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let (info, peers) = try await options.withClient { client in
            (try await client.clusterInfo(), try await client.clusterPeers())
        }
        let list = peers["peers"] as? [[String: Any]] ?? []
        var rows: [[String]] = [[Output.text(info["node_id"]), role(of: info["node_id"], info),
                                 Output.text(info["peer_address"]), Output.text(info["http_address"]),
                                 Output.text(info["leader_id"]) == Output.text(info["node_id"]) ? "yes" : "no"]]
        for peer in list {
            rows.append([Output.text(peer["id"]), Output.text(peer["role"]), Output.text(peer["peer_address"]),
                         Output.text(peer["http_address"]), (peer["leader"] as? Bool) == true ? "yes" : "no"])
        }
        rows.sort { (Int($0[0]) ?? 0) < (Int($1[0]) ?? 0) }
        switch options.format {
        case .json: Output.json(["members": rows.map { ["id": Int($0[0]) ?? 0, "role": $0[1], "peer_address": $0[2], "http_address": $0[3], "leader": $0[4] == "yes"] }])
        case .table: Output.table(["ID", "ROLE", "PEER ADDRESS", "HTTP ADDRESS", "LEADER"], rows)
        }
    }

    private func role(of id: Any?, _ info: [String: Any]) -> String {
        guard let id = id as? Int else { return "-" }
        if (info["voters"] as? [Int])?.contains(id) == true { return "voter" }
        if (info["learners"] as? [Int])?.contains(id) == true { return "learner" }
        return "not a member"
    }
}

struct MembersAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a node started with --join: as a learner, then promoted to voter.")
    @Argument(help: "The new node's id.") var id: UInt32
    @Argument(help: "Its peer address, HOST:PORT (its --raft).") var address: String
    @OptionGroup var options: ClientOptions

    func run() async throws {
        guard id >= 1 else { throw CLIFailure.badInput("the node id must be at least 1") }
        let answer = try await options.withClient { client in try await client.addMember(id: id, peerAddress: address) }
        switch options.format {
        case .json: Output.json(answer)
        case .table: print("node \(id) is now a voter")
        }
    }
}

struct MembersRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a node from the cluster.")
    @Argument(help: "The node's id.") var id: UInt32
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let answer = try await options.withClient { client in try await client.removeMember(id: id) }
        switch options.format {
        case .json: Output.json(answer)
        case .table: print("node \(id) was removed")
        }
    }
}

/// `aegis cluster local --nodes 3`: N server processes on loopback, stopped together on
/// Ctrl-C (or SIGTERM).
struct ClusterLocal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local", abstract: "Start a cluster of server processes on loopback; Ctrl-C stops them all.",
        discussion: "Node i serves HTTP on 127.0.0.1:(http-port + i - 1) and peers on 127.0.0.1:(raft-port + i - 1), with data in DIR/node-i.")
    @Option(help: "How many nodes, 1 to 9 (default 3).") var nodes: Int = 3
    @Option(name: .customLong("data-dir"), help: "The parent of the nodes' data directories (default ./aegis-local).") var dataDir = "./aegis-local"
    @Option(name: .customLong("http-port"), help: "Node 1's HTTP port (default 9090).") var httpPort = 9090
    @Option(name: .customLong("raft-port"), help: "Node 1's peer port (default 9190).") var raftPort = 9190

    func run() throws {
        guard (1...9).contains(nodes) else { throw CLIFailure.badInput("--nodes must be from 1 to 9") }
        guard (1...65000).contains(httpPort), (1...65000).contains(raftPort), abs(httpPort - raftPort) >= nodes else {
            throw CLIFailure.badInput("--http-port and --raft-port must be ports at least --nodes apart")
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        try? FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        var children: [Process] = []
        for node in 1...nodes {
            let peers = (1...nodes).filter { $0 != node }.map { "\($0)=127.0.0.1:\(raftPort + $0 - 1)" }.joined(separator: ",")
            var arguments = ["server", "--node-id", "\(node)", "--http", "127.0.0.1:\(httpPort + node - 1)",
                             "--raft", "127.0.0.1:\(raftPort + node - 1)", "--data-dir", "\(dataDir)/node-\(node)"]
            if !peers.isEmpty { arguments += ["--peers", peers] }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            do {
                try process.run()
            } catch {
                for child in children { child.terminate() }
                throw CLIFailure(code: 1, message: "cannot start node \(node): \(error)")
            }
            children.append(process)
            print("node \(node): http://127.0.0.1:\(httpPort + node - 1)  peers 127.0.0.1:\(raftPort + node - 1)  data \(dataDir)/node-\(node)  pid \(process.processIdentifier)")
        }
        print("try: aegis kv set hello world && aegis kv get hello && aegis status --endpoint http://127.0.0.1:\(httpPort)")
        print("Ctrl-C stops the cluster.")
        ClusterLocal.children = children
        signal(SIGINT) { _ in ClusterLocal.stopAll() }
        signal(SIGTERM) { _ in ClusterLocal.stopAll() }
        // Wait for the children. One that dies (say, to try a failover) is reported and
        // the others keep serving; when all are gone, so is this command.
        var reported = Set<Int32>()
        while children.contains(where: \.isRunning) {
            for dead in children where !dead.isRunning && reported.insert(dead.processIdentifier).inserted {
                print("node pid \(dead.processIdentifier) exited (status \(dead.terminationStatus)); the others keep serving")
            }
            usleep(200_000)
        }
        throw CLIFailure(code: 1, message: "every node exited")
    }

    nonisolated(unsafe) static var children: [Process] = []

    static func stopAll() -> Never {
        for child in children where child.isRunning { kill(child.processIdentifier, SIGTERM) }
        for child in children { child.waitUntilExit() }
        Glibc.exit(0)
    }
}
