import Foundation
import Testing
@testable import Aegis

/// Raft rules as transcripts (`Transcripts/*.txt`): each block is a command, a line of
/// `----`, and the output it must print, then a blank line. The runner plays the
/// commands on in-memory Raft cores and compares. Set AEGIS_REWRITE_TRANSCRIPTS=1 to
/// write the actual output back into the files (then read the diff before committing).
///
/// Commands:
///   cluster N [voters=V] [mutation=NAME]   make N nodes, V founding voters
///   elect ID                               ID campaigns; the election runs to the end
///   propose ID TEXT                        a proposal at ID
///   change ID add-learner|promote|remove NODE
///   transfer ID TARGET                     leadership transfer
///   read ID CONTEXT                        a ReadIndex request
///   compact ID                             ID snapshots its applied state and compacts
///   deliver [drop=A>B,...] [only=A>B,...]  deliver queued messages (by sender>receiver)
///   discard [from=ID]                      drop queued messages
///   isolate ID... / heal                   cut nodes off / reconnect everyone
///   tick ID [N]                            N ticks at ID
///   messages                               the queued messages
///   state                                  every node: role, term, commit, log as index:term
///   applied ID                             the entries ID applied, as index:term:data
///   reads ID                               the reads confirmed at ID
@Suite struct RaftTranscriptTests {
    /// Comment lines after the last block, kept on rewrite.
    private func trailing(_ text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        var tail: [String] = []
        while let last = lines.last, last.isEmpty || last.hasPrefix("#") {
            tail.insert(last, at: 0)
            lines.removeLast()
        }
        return tail.joined(separator: "\n")
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Transcripts")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test(arguments: RaftTranscriptTests.files)
    func transcript(_ name: String) throws {
        let url = RaftTranscriptTests.folder.appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        let blocks = try TranscriptFile.parse(text)
        var runner = TranscriptRunner()
        var rewritten: [String] = []
        var mismatches = 0
        for block in blocks {
            let actual = runner.run(block.command)
            rewritten.append(block.leading + block.command + "\n----\n" + actual + (actual.isEmpty ? "" : "\n"))
            if actual != block.expected {
                mismatches += 1
                Issue.record("\(name): `\(block.command)`\nexpected:\n\(block.expected)\nactual:\n\(actual)")
            }
        }
        if ProcessInfo.processInfo.environment["AEGIS_REWRITE_TRANSCRIPTS"] == "1", mismatches > 0 {
            try (rewritten.joined() + trailing(text)).write(to: url, atomically: true, encoding: .utf8)
        }
        #expect(!blocks.isEmpty)
    }
}

struct TranscriptFile {
    struct Block {
        /// Comment and blank lines before the command, kept on rewrite.
        var leading: String
        var command: String
        var expected: String
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ text: String) throws -> [Block] {
        var blocks: [Block] = []
        var lines = text.components(separatedBy: "\n")[...]
        var leading = ""
        while let line = lines.first {
            lines = lines.dropFirst()
            if line.isEmpty || line.hasPrefix("#") {
                leading += line + "\n"
                continue
            }
            guard lines.first == "----" else { throw ParseError(description: "`\(line)` is not followed by ----") }
            lines = lines.dropFirst()
            var expected: [String] = []
            while let next = lines.first, !next.isEmpty {
                expected.append(next)
                lines = lines.dropFirst()
            }
            blocks.append(Block(leading: leading, command: line, expected: expected.joined(separator: "\n")))
            leading = ""
        }
        return blocks
    }
}

struct TranscriptRunner {
    var cluster: RaftCluster?

    mutating func run(_ line: String) -> String {
        let words = line.split(separator: " ").map(String.init)
        guard let command = words.first else { return "error: empty command" }
        let arguments = Array(words.dropFirst())
        if command == "cluster" { return makeCluster(arguments) }
        guard let cluster else { return "error: no cluster yet" }
        func node(_ position: Int) -> UInt32? {
            guard position < arguments.count else { return nil }
            return UInt32(arguments[position].trimmingCharacters(in: CharacterSet(charactersIn: "n")))
        }
        switch command {
        case "elect":
            guard let id = node(0) else { return "error: elect ID" }
            cluster.elect(id)
            return "\(NodeID(id)) \(cluster[id].role.rawValue) t\(cluster[id].term.rawValue)"
        case "propose":
            guard let id = node(0), arguments.count >= 2 else { return "error: propose ID TEXT" }
            return describe(cluster.propose(id, arguments[1...].joined(separator: " ")))
        case "change":
            guard let id = node(0), arguments.count == 3, let target = UInt32(arguments[2].trimmingCharacters(in: CharacterSet(charactersIn: "n")))
            else { return "error: change ID add-learner|promote|remove NODE" }
            let change: ConfigurationChange
            switch arguments[1] {
            case "add-learner": change = .addLearner(NodeID(target))
            case "promote": change = .promote(NodeID(target))
            case "remove": change = .remove(NodeID(target))
            default: return "error: unknown change \(arguments[1])"
            }
            let result = cluster[id].proposeConfigurationChange(change)
            cluster.drainReadies()
            return describe(result)
        case "transfer":
            guard let id = node(0), let target = node(1) else { return "error: transfer ID TARGET" }
            let started = cluster[id].transferLeadership(to: NodeID(target))
            cluster.drainReadies()
            return started ? "transfer started" : "transfer refused"
        case "read":
            guard let id = node(0), arguments.count == 2, let context = UInt64(arguments[1]) else { return "error: read ID CONTEXT" }
            let result = cluster[id].readIndex(context: context)
            cluster.drainReadies()
            switch result {
            case .pending: return "pending"
            case let .notLeader(leader): return "not leader (leader \(leader.map(\.description) ?? "unknown"))"
            }
        case "compact":
            guard let id = node(0) else { return "error: compact ID" }
            let applied = cluster[id].log.applied
            guard let snapshot = cluster[id].compact(toSnapshotWith: Array("image@\(applied.rawValue)".utf8), at: applied) else {
                return "nothing to compact"
            }
            return "snapshot \(snapshot.metadata.index.rawValue):\(snapshot.metadata.term.rawValue)"
        case "deliver":
            var drops: [(UInt32, UInt32)] = []
            var only: [(UInt32, UInt32)]?
            for argument in arguments {
                let pairs = argument.split(separator: "=").last.map { $0.split(separator: ",") } ?? []
                let parsed = pairs.compactMap { pair -> (UInt32, UInt32)? in
                    let ends = pair.split(separator: ">").map { UInt32($0.trimmingCharacters(in: CharacterSet(charactersIn: "n"))) }
                    guard ends.count == 2, let from = ends[0], let to = ends[1] else { return nil }
                    return (from, to)
                }
                if argument.hasPrefix("drop=") { drops += parsed }
                if argument.hasPrefix("only=") { only = parsed }
            }
            let delivered = cluster.deliverAll(drop: { message in
                let pair = (message.from.rawValue, message.to.rawValue)
                if drops.contains(where: { $0 == pair }) { return true }
                if let only, !only.contains(where: { $0 == pair }) { return true }
                return false
            })
            return "delivered \(delivered)"
        case "discard":
            let before = cluster.inFlight.count
            if let id = arguments.first.flatMap({ $0.hasPrefix("from=") ? UInt32($0.dropFirst(5).trimmingCharacters(in: CharacterSet(charactersIn: "n"))) : nil }) {
                cluster.inFlight.removeAll { $0.from == NodeID(id) }
            } else {
                cluster.inFlight.removeAll()
            }
            return "discarded \(before - cluster.inFlight.count)"
        case "isolate":
            cluster.isolated = Set(arguments.compactMap { UInt32($0.trimmingCharacters(in: CharacterSet(charactersIn: "n"))) }.map { NodeID($0) })
            return "isolated " + cluster.isolated.sorted().map(\.description).joined(separator: ",")
        case "heal":
            cluster.isolated = []
            return "healed"
        case "tick":
            guard let id = node(0) else { return "error: tick ID [N]" }
            cluster.tick(id, times: arguments.count > 1 ? Int(arguments[1]) ?? 1 : 1)
            return "\(NodeID(id)) \(cluster[id].role.rawValue) t\(cluster[id].term.rawValue)"
        case "messages":
            return cluster.inFlight.map(\.description).joined(separator: "\n")
        case "state":
            return cluster.picture
        case "applied":
            guard let id = node(0) else { return "error: applied ID" }
            return cluster.applied[NodeID(id)]!.map { entry in
                "\(entry.index.rawValue):\(entry.term.rawValue):\(entry.kind == .command ? String(decoding: entry.data, as: UTF8.self) : "\(entry.kind)")"
            }.joined(separator: " ")
        case "reads":
            guard let id = node(0) else { return "error: reads ID" }
            return cluster.readStates[NodeID(id)]!.map { "context \($0.context) at \($0.index.rawValue)" }.joined(separator: "\n")
        default:
            return "error: unknown command \(command)"
        }
    }

    private mutating func makeCluster(_ arguments: [String]) -> String {
        guard let size = arguments.first.flatMap(Int.init) else { return "error: cluster N [voters=V] [mutation=NAME]" }
        var voters: Int?
        var mutations = MutationSet()
        for argument in arguments.dropFirst() {
            if argument.hasPrefix("voters=") { voters = Int(argument.dropFirst(7)) }
            if argument.hasPrefix("mutation="), let mutation = Mutation(rawValue: String(argument.dropFirst(9))) {
                mutations.insert(mutation)
            }
        }
        cluster = RaftCluster(size: size, voters: voters, mutations: mutations)
        return cluster!.picture
    }

    private func describe(_ result: ProposalResult) -> String {
        switch result {
        case let .appended(index, term): return "appended at \(index.rawValue) in t\(term.rawValue)"
        case let .notLeader(leader): return "not leader (leader \(leader.map(\.description) ?? "unknown"))"
        case let .refused(reason): return "refused: \(reason)"
        }
    }
}
