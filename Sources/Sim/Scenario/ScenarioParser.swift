import Aegis
import Yams

/// Parses scenario text (YAML) into a `Scenario`, rejecting unknown fields and bad
/// values with an `InputError` that names the file, line and field.
public enum ScenarioParser {
    public static func parse(text: String, file: String) throws(InputError) -> Scenario {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: text) else {
                throw InputError(file: file, line: 1, field: nil, message: "the scenario is empty; start from Scenarios/smoke.yaml")
            }
            root = composed
        } catch let error as InputError {
            throw error
        } catch let error as YamlError {
            throw yamlError(error, file: file)
        } catch {
            throw InputError(file: file, line: nil, field: nil, message: "is not valid YAML (\(error))")
        }
        var reader = FieldReader(file: file)
        var scenario = try reader.scenario(root)
        scenario.sourceText = text
        return scenario
    }

    private static func yamlError(_ error: YamlError, file: String) -> InputError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return InputError(file: file, line: mark.line, field: nil, message: "is not valid YAML: \(problem) at column \(mark.column)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return InputError(file: file, line: context.mark.line, field: duplicates.first, message: "is given twice; keep one")
        default:
            return InputError(file: file, line: nil, field: nil, message: "is not valid YAML")
        }
    }
}

/// Walks the YAML tree with the dotted path of the current field, for error messages.
private struct FieldReader {
    let file: String
    /// Where each scheduled fault was written, to point at it when a later check fails.
    var scheduleLocations: [(line: Int?, field: String)] = []

    func fail(_ node: Node?, _ field: String, _ message: String) -> InputError {
        InputError(file: file, line: node?.mark?.line, field: field, message: message)
    }

    /// The pairs of a mapping, refusing keys not in `known`.
    func mapping(_ node: Node, _ field: String, known: [String]) throws(InputError) -> [(String, Node)] {
        guard let mapping = node.mapping else {
            throw fail(node, field, "must be a mapping of keys to values")
        }
        var pairs: [(String, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                throw fail(keyNode, field, "has a key that is not a string")
            }
            let path = field.isEmpty ? key : "\(field).\(key)"
            guard known.contains(key) else {
                throw fail(keyNode, path, "is not a known field; known fields here are \(known.joined(separator: ", "))")
            }
            pairs.append((key, value))
        }
        return pairs
    }

    func string(_ node: Node, _ field: String) throws(InputError) -> String {
        guard let scalar = node.scalar else { throw fail(node, field, "must be a single value") }
        return scalar.string
    }

    func integer(_ node: Node, _ field: String, _ range: ClosedRange<Int>) throws(InputError) -> Int {
        guard let scalar = node.scalar, let value = Int(scalar.string) else {
            throw fail(node, field, "must be a whole number")
        }
        guard range.contains(value) else {
            throw fail(node, field, "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    func boolean(_ node: Node, _ field: String) throws(InputError) -> Bool {
        switch node.scalar?.string {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(node, field, "must be true or false")
        }
    }

    func number(_ node: Node, _ field: String) throws(InputError) -> Double {
        guard let scalar = node.scalar, let value = Double(scalar.string), value.isFinite else {
            throw fail(node, field, "must be a number")
        }
        return value
    }

    /// "250ns", "10us", "5ms", "2s", "1m", optionally negative.
    func duration(_ node: Node, _ field: String, allowNegative: Bool = false) throws(InputError) -> Double {
        guard let text = node.scalar?.string else { throw fail(node, field, "must be a duration such as 5ms or 2s") }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            // "5ms" also ends in "s"; only accept when what is left is a plain number.
            guard let value = Double(digits), value.isFinite else { continue }
            guard allowNegative || value >= 0 else { throw fail(node, field, "must not be negative") }
            let nanoseconds = (value * scale).rounded()
            guard abs(nanoseconds) <= 86_400e9 else { throw fail(node, field, "must be at most one day") }
            return nanoseconds
        }
        throw fail(node, field, "must be a duration with a unit (ns, us, ms, s, m), such as 5ms or 2s; got '\(text)'")
    }

    /// A single value or a two-element `[low, high]`, each read by `element`.
    func range(
        _ node: Node, _ field: String, _ element: (Node, String) throws(InputError) -> Double
    ) throws(InputError) -> DrawRange {
        if let sequence = node.sequence {
            guard sequence.count == 2 else { throw fail(node, field, "must be one value or a range [low, high]") }
            let low = try element(sequence[0], field)
            let high = try element(sequence[1], field)
            guard low <= high else { throw fail(node, field, "range [low, high] has low above high") }
            return DrawRange(low, high)
        }
        return .fixed(try element(node, field))
    }

    func probability(_ node: Node, _ field: String) throws(InputError) -> DrawRange {
        try range(node, field) { (node, field) throws(InputError) in
            let value = try number(node, field)
            guard (0...1).contains(value) else { throw fail(node, field, "must be a probability between 0 and 1, not \(value)") }
            return value
        }
    }

    func rate(_ node: Node, _ field: String) throws(InputError) -> DrawRange {
        try range(node, field) { (node, field) throws(InputError) in
            let value = try number(node, field)
            guard (0...10_000).contains(value) else { throw fail(node, field, "must be a rate between 0 and 10000 per minute") }
            return value
        }
    }

    func durationRange(_ node: Node, _ field: String, allowNegative: Bool = false) throws(InputError) -> DrawRange {
        try range(node, field) { (node, field) throws(InputError) in try duration(node, field, allowNegative: allowNegative) }
    }

    mutating func scenario(_ root: Node) throws(InputError) -> Scenario {
        let pairs = try mapping(root, "", known: [
            "name", "description", "topology", "workload", "raft", "membership", "storage", "shards", "duration", "liveness_bound",
            "faults", "schedule", "checks", "expect", "mutations",
        ])
        guard let nameNode = pairs.first(where: { $0.0 == "name" })?.1 else {
            throw fail(root, "name", "is missing; every scenario needs a name")
        }
        var scenario = Scenario(name: try string(nameNode, "name"))
        guard !scenario.name.isEmpty, scenario.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw fail(nameNode, "name", "must be letters, digits, '-' or '_'")
        }
        for (key, value) in pairs {
            switch key {
            case "description": scenario.description = try string(value, key)
            case "topology": (scenario.servers, scenario.voters) = try topology(value)
            case "workload": scenario.workload = try workload(value)
            case "raft": scenario.raft = try raft(value)
            case "membership": scenario.membership = try membership(value)
            case "storage": scenario.storage = try storage(value)
            case "shards": scenario.shards = try shards(value)
            case "duration": scenario.durationNanoseconds = UInt64(try duration(value, key))
            case "liveness_bound": scenario.livenessBoundNanoseconds = UInt64(try duration(value, key))
            case "faults": scenario.faults = try faults(value)
            case "schedule": scenario.schedule = try schedule(value)
            case "checks": scenario.checks = try checks(value)
            case "expect":
                let text = try string(value, key)
                guard let expect = ExpectedOutcome(rawValue: text) else {
                    throw fail(value, key, "must be one of \(ExpectedOutcome.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                scenario.expect = expect
            case "mutations":
                guard let sequence = value.sequence else { throw fail(value, key, "must be a list of mutation names") }
                for item in sequence {
                    let mutation = try string(item, key)
                    guard Mutation(rawValue: mutation) != nil else {
                        throw fail(item, key, "'\(mutation)' is not a known mutation; known: \(Mutation.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    scenario.mutations.append(mutation)
                }
            default: break
            }
        }
        guard scenario.durationNanoseconds > 0 else { throw fail(root, "duration", "must be longer than zero") }
        guard scenario.livenessBoundNanoseconds > 0 else {
            throw fail(root, "liveness_bound", "must be longer than zero; it is the time the cluster gets to finish after faults heal")
        }
        guard scenario.workload.kind != .gset || scenario.workload.ackQuorum <= scenario.servers else {
            throw fail(root, "workload.ack_quorum", "must not exceed the number of nodes (\(scenario.servers))")
        }
        guard scenario.voters <= scenario.servers else {
            throw fail(root, "topology.voters", "must not exceed topology.nodes (\(scenario.servers))")
        }
        let minority = (scenario.voters - 1) / 2
        guard scenario.faults.process.permanentFailures.upper <= Double(minority) else {
            throw fail(root, "faults.process.permanent_failures",
                "must be at most a minority of the voters (\(minority) of \(scenario.voters)), or no cluster could finish")
        }
        if scenario.workload.kind.isSharded {
            guard scenario.shards.replicationFactor <= scenario.servers else {
                throw fail(root, "shards.replication", "must not exceed topology.nodes (\(scenario.servers))")
            }
            guard scenario.shards.initial <= scenario.workload.keys else {
                throw fail(root, "shards.initial", "must not exceed workload.keys (\(scenario.workload.keys)): each shard starts with a key")
            }
            let lost = scenario.shards.decommissions + Int(scenario.faults.process.permanentFailures.upper)
            guard scenario.servers - lost >= scenario.shards.replicationFactor else {
                throw fail(root, "shards.decommissions",
                    "with the permanent failures, must leave at least shards.replication (\(scenario.shards.replicationFactor)) of the \(scenario.servers) nodes to hold the replicas")
            }
            guard !scenario.membership.isActive else {
                throw fail(root, "membership", "is for the Raft key-value workloads; sharded ones move replicas with shards.moves_per_minute")
            }
        }
        if scenario.workload.kind == .storage && scenario.servers != 1 {
            throw fail(root, "topology.nodes", "must be 1 for workload kind storage (one storage node, many clients)")
        }
        if scenario.membership.isActive {
            guard scenario.workload.kind == .register || scenario.workload.kind == .sqlBank else {
                throw fail(root, "membership", "needs workload kind register or sql-bank")
            }
            guard scenario.faults.process.permanentFailures.isZero else {
                throw fail(root, "membership", "cannot be combined with faults.process.permanent_failures: a change could leave the permanently failed nodes a majority")
            }
            guard scenario.membership.votersMin <= scenario.voters, scenario.voters <= scenario.membership.votersMax else {
                throw fail(root, "membership", "voters_min and voters_max must bracket topology.voters (\(scenario.voters))")
            }
        }
        // The schedule was checked against the node count seen so far; check again now
        // that the whole file is read, since topology may come after schedule.
        for (fault, location) in zip(scenario.schedule, scheduleLocations) where fault.atNanoseconds >= scenario.durationNanoseconds {
            throw InputError(file: file, line: location.line, field: location.field,
                message: "happens at or after the end of the fault phase (duration); schedule it earlier or lengthen duration")
        }
        for (fault, location) in zip(scenario.schedule, scheduleLocations) {
            for node in fault.action.nodes where node > scenario.servers {
                throw InputError(file: file, line: location.line, field: location.field,
                    message: "names node \(node) but topology has \(scenario.servers) nodes")
            }
        }
        return scenario
    }

    func topology(_ node: Node) throws(InputError) -> (servers: Int, voters: Int) {
        var servers = 3
        var voters: Int?
        for (key, value) in try mapping(node, "topology", known: ["nodes", "voters"]) {
            if key == "nodes" { servers = try integer(value, "topology.nodes", 1...16) }
            if key == "voters" { voters = try integer(value, "topology.voters", 1...16) }
        }
        return (servers, voters ?? servers)
    }

    func raft(_ node: Node) throws(InputError) -> RaftSpec {
        var spec = RaftSpec()
        let known = [
            "tick", "election_ticks", "heartbeat_ticks", "inflight_max", "entries_per_message_max",
            "snapshot_every", "snapshot_chunk_bytes", "segment_bytes",
        ]
        for (key, value) in try mapping(node, "raft", known: known) {
            let field = "raft.\(key)"
            switch key {
            case "tick":
                let tick = try duration(value, field)
                guard tick >= 1e6, tick <= 1e9 else { throw fail(value, field, "must be between 1ms and 1s") }
                spec.tickNanoseconds = UInt64(tick)
            case "election_ticks": spec.electionTicks = try integer(value, field, 2...1000)
            case "heartbeat_ticks": spec.heartbeatTicks = try integer(value, field, 1...500)
            case "inflight_max": spec.inflightMax = try integer(value, field, 1...1024)
            case "entries_per_message_max": spec.entriesPerMessageMax = try integer(value, field, 1...RaftMessage.entriesPerMessageMax)
            case "snapshot_every": spec.snapshotEveryEntries = try integer(value, field, 1...1_000_000)
            case "snapshot_chunk_bytes": spec.snapshotChunkBytes = try integer(value, field, 1...(networkMessageSizeMax / 2))
            case "segment_bytes": spec.segmentBytes = try integer(value, field, 4096...(1 << 30))
            default: break
            }
        }
        guard spec.electionTicks >= 2 * spec.heartbeatTicks else {
            throw fail(node, "raft.election_ticks", "must be at least twice heartbeat_ticks, or followers campaign between heartbeats")
        }
        return spec
    }

    func membership(_ node: Node) throws(InputError) -> MembershipSpec {
        var spec = MembershipSpec()
        for (key, value) in try mapping(node, "membership", known: ["changes_per_minute", "transfers_per_minute", "voters_min", "voters_max"]) {
            let field = "membership.\(key)"
            switch key {
            case "changes_per_minute": spec.changesPerMinute = try number(value, field)
            case "transfers_per_minute": spec.transfersPerMinute = try number(value, field)
            case "voters_min": spec.votersMin = try integer(value, field, 1...16)
            case "voters_max": spec.votersMax = try integer(value, field, 1...16)
            default: break
            }
            if key.hasSuffix("per_minute") {
                let rate = key == "changes_per_minute" ? spec.changesPerMinute : spec.transfersPerMinute
                guard (0...10_000).contains(rate) else { throw fail(value, field, "must be a rate between 0 and 10000 per minute") }
            }
        }
        guard spec.votersMin <= spec.votersMax else { throw fail(node, "membership.voters_min", "must not exceed voters_max") }
        return spec
    }

    func shards(_ node: Node) throws(InputError) -> ShardSpec {
        var spec = ShardSpec()
        let known = ["initial", "replication", "split_keys_min", "rebalance", "splits_per_minute", "moves_per_minute",
                     "transaction_operations_max", "decommissions", "split_operations_per_second"]
        for (key, value) in try mapping(node, "shards", known: known) {
            let field = "shards.\(key)"
            switch key {
            case "initial": spec.initial = try integer(value, field, 1...1000)
            case "replication": spec.replicationFactor = try integer(value, field, 1...7)
            case "split_keys_min": spec.splitKeysMin = try integer(value, field, 0...1_000_000)
            case "rebalance": spec.rebalance = try boolean(value, field)
            case "splits_per_minute", "moves_per_minute":
                let rate = try number(value, field)
                guard (0...10_000).contains(rate) else { throw fail(value, field, "must be a rate between 0 and 10000 per minute") }
                if key == "splits_per_minute" { spec.splitsPerMinute = rate } else { spec.movesPerMinute = rate }
            case "transaction_operations_max": spec.transactionOperationsMax = try integer(value, field, 1...64)
            case "decommissions": spec.decommissions = try integer(value, field, 0...64)
            case "split_operations_per_second":
                let rate = try number(value, field)
                guard (0...1_000_000).contains(rate) else { throw fail(value, field, "must be a rate between 0 and 1000000 per second") }
                spec.splitOperationsPerSecondMin = rate
            default: break
            }
        }
        return spec
    }

    func storage(_ node: Node) throws(InputError) -> StorageSpec {
        var spec = StorageSpec()
        let known = ["accounts", "compression", "memtable_bytes", "table_bytes", "block_bytes", "cache_bytes",
                     "group_commit", "value_bytes_max", "oversized_share"]
        for (key, value) in try mapping(node, "storage", known: known) {
            let field = "storage.\(key)"
            switch key {
            case "accounts": spec.accounts = try integer(value, field, 2...1000)
            case "compression":
                guard let items = value.sequence, !items.isEmpty else {
                    throw fail(value, field, "must be a non-empty list of none, lz4, zstd or zstd:LEVEL")
                }
                spec.compression = []
                for item in items {
                    let text = try string(item, field)
                    guard let compression = BlockCompression(parsing: text) else {
                        throw fail(item, field, "'\(text)' is not a compression; use none, lz4, zstd or zstd:LEVEL (1-19)")
                    }
                    spec.compression.append(compression)
                }
            case "memtable_bytes": spec.memtableBytes = try integer(value, field, 1024...(1 << 30))
            case "table_bytes": spec.tableBytes = try integer(value, field, 1024...(1 << 30))
            case "block_bytes": spec.blockBytes = try integer(value, field, 128...(1 << 20))
            case "cache_bytes": spec.cacheBytes = try integer(value, field, 0...(1 << 34))
            case "group_commit":
                let window = try duration(value, field)
                guard window >= 0 else { throw fail(value, field, "must not be negative") }
                spec.groupCommitNanoseconds = UInt64(window)
            case "value_bytes_max": spec.valueBytesMax = try integer(value, field, 1...(1 << 20))
            case "oversized_share":
                spec.oversizedShare = try number(value, field)
                guard (0...1).contains(spec.oversizedShare) else { throw fail(value, field, "must be between 0 and 1") }
            default: break
            }
        }
        return spec
    }

    func workload(_ node: Node) throws(InputError) -> WorkloadSpec {
        var spec = WorkloadSpec()
        let known = [
            "kind", "clients", "operations", "ack_quorum", "request_timeout", "think_time", "gossip_interval",
            "keys", "mix", "operation_timeout",
        ]
        for (key, value) in try mapping(node, "workload", known: known) {
            let field = "workload.\(key)"
            switch key {
            case "kind":
                let text = try string(value, field)
                guard let kind = WorkloadKind(rawValue: text) else {
                    throw fail(value, field, "'\(text)' is not a known workload; known: \(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                spec.kind = kind
            case "keys": spec.keys = try integer(value, field, 1...1000)
            case "mix":
                var shares: [String: Double] = [:]
                for (part, partValue) in try mapping(value, field, known: ["read", "write", "cas"]) {
                    let share = try number(partValue, "\(field).\(part)")
                    guard share >= 0 else { throw fail(partValue, "\(field).\(part)", "must not be negative") }
                    shares[part] = share
                }
                // Summed in a fixed order: a dictionary's order differs per process.
                let total = (shares["read"] ?? 0) + (shares["write"] ?? 0) + (shares["cas"] ?? 0)
                guard total > 0 else { throw fail(value, field, "needs a positive share of read, write or cas") }
                spec.readShare = (shares["read"] ?? 0) / total
                spec.writeShare = (shares["write"] ?? 0) / total
                spec.casShare = (shares["cas"] ?? 0) / total
            case "operation_timeout":
                let timeout = try duration(value, field)
                guard timeout >= 1e6 else { throw fail(value, field, "must be at least 1ms") }
                spec.operationTimeoutNanoseconds = UInt64(timeout)
            case "clients": spec.clients = try integer(value, field, 1...512)
            case "operations": spec.operations = try integer(value, field, 0...100_000)
            case "ack_quorum": spec.ackQuorum = try integer(value, field, 1...16)
            case "request_timeout":
                let timeout = try duration(value, field)
                guard timeout >= 1e6 else { throw fail(value, field, "must be at least 1ms") }
                spec.requestTimeoutNanoseconds = UInt64(timeout)
            case "think_time": spec.thinkTimeNanoseconds = try durationRange(value, field)
            case "gossip_interval":
                let interval = try duration(value, field)
                guard interval >= 1e6 else { throw fail(value, field, "must be at least 1ms") }
                spec.gossipIntervalNanoseconds = UInt64(interval)
            default: break
            }
        }
        return spec
    }

    func faults(_ node: Node) throws(InputError) -> FaultRanges {
        var faults = FaultRanges()
        for (key, value) in try mapping(node, "faults", known: ["swarm", "network", "disk", "process", "clock"]) {
            switch key {
            case "swarm": faults.swarm = try boolean(value, "faults.swarm")
            case "network": faults.network = try network(value)
            case "disk": faults.disk = try disk(value)
            case "process": faults.process = try process(value)
            case "clock": faults.clock = try clock(value)
            default: break
            }
        }
        return faults
    }

    func network(_ node: Node) throws(InputError) -> NetworkFaultRanges {
        var network = NetworkFaultRanges()
        let known = [
            "latency", "loss", "duplicate", "reorder", "reorder_delay", "partitions_per_minute",
            "partition_duration", "clogs_per_minute", "clog_delay", "clog_duration",
            "leader_isolations_per_minute", "leader_isolation_duration", "new_leader_isolation",
        ]
        for (key, value) in try mapping(node, "faults.network", known: known) {
            let field = "faults.network.\(key)"
            switch key {
            case "latency":
                for (part, partValue) in try mapping(value, field, known: ["distribution", "min", "mean", "max"]) {
                    let partField = "\(field).\(part)"
                    switch part {
                    case "distribution":
                        let text = try string(partValue, partField)
                        guard let distribution = LatencyDistribution(rawValue: text) else {
                            throw fail(partValue, partField, "must be uniform or exponential")
                        }
                        network.latencyDistribution = distribution
                    case "min": network.latencyMinNanoseconds = try durationRange(partValue, partField)
                    case "mean": network.latencyMeanNanoseconds = try durationRange(partValue, partField)
                    case "max": network.latencyMaxNanoseconds = try durationRange(partValue, partField)
                    default: break
                    }
                }
                guard network.latencyMinNanoseconds.upper <= network.latencyMaxNanoseconds.lower else {
                    throw fail(value, field, "min must not exceed max")
                }
            case "loss": network.loss = try probability(value, field)
            case "duplicate": network.duplicate = try probability(value, field)
            case "reorder": network.reorder = try probability(value, field)
            case "reorder_delay": network.reorderDelayNanoseconds = try durationRange(value, field)
            case "partitions_per_minute": network.partitionsPerMinute = try rate(value, field)
            case "partition_duration": network.partitionDurationNanoseconds = try durationRange(value, field)
            case "clogs_per_minute": network.clogsPerMinute = try rate(value, field)
            case "clog_delay": network.clogDelayNanoseconds = try durationRange(value, field)
            case "clog_duration": network.clogDurationNanoseconds = try durationRange(value, field)
            case "leader_isolations_per_minute": network.leaderIsolationsPerMinute = try rate(value, field)
            case "leader_isolation_duration": network.leaderIsolationDurationNanoseconds = try durationRange(value, field)
            case "new_leader_isolation": network.newLeaderIsolation = try probability(value, field)
            default: break
            }
        }
        return network
    }

    func disk(_ node: Node) throws(InputError) -> DiskFaultRanges {
        var disk = DiskFaultRanges()
        let known = [
            "sector_size", "capacity_bytes", "latency", "unsynced_lost", "unsynced_torn", "corruption",
            "misdirect", "read_error", "write_error",
        ]
        for (key, value) in try mapping(node, "faults.disk", known: known) {
            let field = "faults.disk.\(key)"
            switch key {
            case "sector_size":
                let size = try integer(value, field, 64...65536)
                guard size & (size - 1) == 0 else { throw fail(value, field, "must be a power of two") }
                disk.sectorSize = size
            case "capacity_bytes": disk.capacityBytes = try integer(value, field, 4096...(1 << 40))
            case "latency":
                for (part, partValue) in try mapping(value, field, known: ["min", "max"]) {
                    if part == "min" { disk.latencyMinNanoseconds = try durationRange(partValue, "\(field).min") }
                    if part == "max" { disk.latencyMaxNanoseconds = try durationRange(partValue, "\(field).max") }
                }
                guard disk.latencyMinNanoseconds.upper <= disk.latencyMaxNanoseconds.lower else {
                    throw fail(value, field, "min must not exceed max")
                }
            case "unsynced_lost": disk.unsyncedLost = try probability(value, field)
            case "unsynced_torn": disk.unsyncedTorn = try probability(value, field)
            case "corruption": disk.corruption = try probability(value, field)
            case "misdirect": disk.misdirect = try probability(value, field)
            case "read_error": disk.readError = try probability(value, field)
            case "write_error": disk.writeError = try probability(value, field)
            default: break
            }
        }
        guard disk.unsyncedLost.upper + disk.unsyncedTorn.upper <= 1 else {
            throw fail(node, "faults.disk.unsynced_torn", "unsynced_lost + unsynced_torn must not exceed 1")
        }
        return disk
    }

    func process(_ node: Node) throws(InputError) -> ProcessFaultRanges {
        var process = ProcessFaultRanges()
        let known = [
            "crashes_per_minute", "crash_at_disk_call", "restart_delay", "pauses_per_minute", "pause_duration",
            "permanent_failures", "power_failures_per_minute", "leader_crashes_per_minute",
        ]
        for (key, value) in try mapping(node, "faults.process", known: known) {
            let field = "faults.process.\(key)"
            switch key {
            case "crashes_per_minute": process.crashesPerMinute = try rate(value, field)
            case "power_failures_per_minute": process.powerFailuresPerMinute = try rate(value, field)
            case "leader_crashes_per_minute": process.leaderCrashesPerMinute = try rate(value, field)
            case "crash_at_disk_call": process.crashAtDiskCall = try probability(value, field)
            case "restart_delay": process.restartDelayNanoseconds = try durationRange(value, field)
            case "pauses_per_minute": process.pausesPerMinute = try rate(value, field)
            case "pause_duration": process.pauseDurationNanoseconds = try durationRange(value, field)
            case "permanent_failures":
                process.permanentFailures = try range(value, field) { (node, field) throws(InputError) in
                    Double(try integer(node, field, 0...7))
                }
            default: break
            }
        }
        return process
    }

    func clock(_ node: Node) throws(InputError) -> ClockFaultRanges {
        var clock = ClockFaultRanges()
        for (key, value) in try mapping(node, "faults.clock", known: ["skew", "drift_ppm", "jumps_per_minute", "jump"]) {
            let field = "faults.clock.\(key)"
            switch key {
            case "skew": clock.skewNanoseconds = try durationRange(value, field, allowNegative: true)
            case "drift_ppm":
                clock.driftPartsPerMillion = try range(value, field) { (node, field) throws(InputError) in
                    let ppm = try number(node, field)
                    guard abs(ppm) <= 100_000 else { throw fail(node, field, "must be within ±100000 ppm") }
                    return ppm
                }
            case "jumps_per_minute": clock.jumpsPerMinute = try rate(value, field)
            case "jump": clock.jumpNanoseconds = try durationRange(value, field, allowNegative: true)
            default: break
            }
        }
        return clock
    }

    func checks(_ node: Node) throws(InputError) -> [CheckName] {
        guard let sequence = node.sequence else { throw fail(node, "checks", "must be a list of check names") }
        var checks: [CheckName] = []
        for item in sequence {
            let text = try string(item, "checks")
            guard let check = CheckName(rawValue: text) else {
                throw fail(item, "checks", "'\(text)' is not a known check; known: \(CheckName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            checks.append(check)
        }
        return checks
    }

    mutating func schedule(_ node: Node) throws(InputError) -> [ScheduledFault] {
        guard let sequence = node.sequence else { throw fail(node, "schedule", "must be a list of {at: TIME, ACTION: ARGUMENT}") }
        var faults: [ScheduledFault] = []
        let actions = ["partition", "partition_one_way", "isolate", "clog", "heal", "crash", "restart", "pause", "resume", "clock_jump"]
        for (index, item) in sequence.enumerated() {
            let field = "schedule[\(index)]"
            let pairs = try mapping(item, field, known: ["at"] + actions)
            guard let atNode = pairs.first(where: { $0.0 == "at" })?.1 else {
                throw fail(item, "\(field).at", "is missing; say when the fault happens, e.g. at: 5s")
            }
            let at = UInt64(try duration(atNode, "\(field).at"))
            let actionPairs = pairs.filter { $0.0 != "at" }
            guard actionPairs.count == 1, let (name, argument) = actionPairs.first else {
                throw fail(item, field, "must name exactly one action of \(actions.joined(separator: ", "))")
            }
            let action = try scheduledAction(name, argument, "\(field).\(name)")
            faults.append(ScheduledFault(atNanoseconds: at, action: action))
            scheduleLocations.append((argument.mark?.line, "\(field).\(name)"))
        }
        return faults
    }

    func nodeNumber(_ node: Node, _ field: String) throws(InputError) -> Int {
        try integer(node, field, 1...16)
    }

    func nodeList(_ node: Node, _ field: String) throws(InputError) -> [Int] {
        guard let sequence = node.sequence, !sequence.isEmpty else { throw fail(node, field, "must be a non-empty list of node numbers") }
        var nodes: [Int] = []
        for item in sequence { nodes.append(try nodeNumber(item, field)) }
        return nodes
    }

    func scheduledAction(_ name: String, _ argument: Node, _ field: String) throws(InputError) -> ScheduledAction {
        switch name {
        case "partition":
            guard let sequence = argument.sequence, sequence.count >= 2 else {
                throw fail(argument, field, "must list at least two groups, e.g. [[1, 2], [3]]")
            }
            var groups: [[Int]] = []
            for group in sequence { groups.append(try nodeList(group, field)) }
            let all = groups.flatMap { $0 }
            guard Set(all).count == all.count else { throw fail(argument, field, "names a node in two groups") }
            return .partition(groups: groups)
        case "partition_one_way":
            var from: [Int] = []
            var to: [Int] = []
            for (key, value) in try mapping(argument, field, known: ["from", "to"]) {
                if key == "from" { from = try nodeList(value, "\(field).from") }
                if key == "to" { to = try nodeList(value, "\(field).to") }
            }
            guard !from.isEmpty, !to.isEmpty else { throw fail(argument, field, "needs both from and to") }
            return .partitionOneWay(from: from, to: to)
        case "isolate": return .isolate(node: try nodeNumber(argument, field))
        case "clog":
            var from = 0
            var to = 0
            var delay: Double = 200e6
            for (key, value) in try mapping(argument, field, known: ["from", "to", "delay"]) {
                if key == "from" { from = try nodeNumber(value, "\(field).from") }
                if key == "to" { to = try nodeNumber(value, "\(field).to") }
                if key == "delay" { delay = try duration(value, "\(field).delay") }
            }
            guard from > 0, to > 0, from != to else { throw fail(argument, field, "needs two different nodes, from and to") }
            return .clog(from: from, to: to, delayNanoseconds: UInt64(delay))
        case "heal": return .heal
        case "crash": return .crash(node: try nodeNumber(argument, field))
        case "restart": return .restart(node: try nodeNumber(argument, field))
        case "pause": return .pause(node: try nodeNumber(argument, field))
        case "resume": return .resume(node: try nodeNumber(argument, field))
        case "clock_jump":
            var node = 0
            var by: Double = 0
            for (key, value) in try mapping(argument, field, known: ["node", "by"]) {
                if key == "node" { node = try nodeNumber(value, "\(field).node") }
                if key == "by" { by = try duration(value, "\(field).by", allowNegative: true) }
            }
            guard node > 0 else { throw fail(argument, field, "needs a node") }
            return .clockJump(node: node, byNanoseconds: Int64(by))
        default:
            throw fail(argument, field, "is not a known action")
        }
    }
}

extension ScheduledAction {
    var nodes: [Int] {
        switch self {
        case let .partition(groups): return groups.flatMap { $0 }
        case let .partitionOneWay(from, to): return from + to
        case let .isolate(node), let .crash(node), let .restart(node), let .pause(node), let .resume(node):
            return [node]
        case let .clog(from, to, _): return [from, to]
        case .heal: return []
        case let .clockJump(node, _): return [node]
        }
    }
}
