/// Serializability of list-append transaction histories, after Elle (Kingsbury and
/// Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations").
///
/// Every transaction appends unique values to lists and reads whole lists. Because a
/// read returns every value appended so far, in order, reads reveal each key's version
/// order, and from it three kinds of dependency between transactions:
///
/// - **ww** T1 → T2: T2 appended the value right after T1's on some key;
/// - **wr** T1 → T2: T2 read a list whose last value T1 appended;
/// - **rw** T1 → T2 (anti-dependency): T1 read a list, and T2 appended the value that
///   came next.
///
/// A serializable history has no cycle in that graph. The checker reports, each with the
/// offending cycle or read:
///
/// - **G0** (write cycle): a cycle of ww edges;
/// - **G1a** (aborted read): a read of a value appended by a transaction that aborted;
/// - **G1b** (intermediate read): a read ending in a value its writer later overwrote
///   (appended again to the same key in the same transaction);
/// - **G1c** (circular information flow): a cycle of ww and wr edges, at least one wr;
/// - **G-single** (read skew and kin): a cycle with exactly one rw edge;
/// - **G2** (write skew and kin): a cycle with two or more rw edges;
///
/// and the faults that make the inference itself impossible: reads of one key that are
/// not prefixes of one another (**incompatible order**), a value read twice in one list
/// (**duplicate**), and a transaction that does not see its own appends (**internal**).
///
/// Transactions whose outcome is unknown (the client saw no answer) take part when a
/// read shows one of their appends, since then they committed; their own reads are not
/// used. Everything is ordered by transaction position and key, never by hashing, so
/// the same history always gives the same report.
public enum ListAppendChecker {
    public enum Operation: Sendable, Equatable {
        case append(key: Int, value: Int)
        /// `values` is nil when the transaction did not commit and the read's result
        /// was never seen.
        case read(key: Int, values: [Int]?)
    }

    public enum Outcome: Sendable, Equatable {
        case committed
        case aborted
        /// The client got no answer: it may or may not have committed.
        case unknown
    }

    public struct Transaction: Sendable, Equatable {
        public var id: Int
        public var outcome: Outcome
        public var operations: [Operation]

        public init(id: Int, outcome: Outcome, operations: [Operation]) {
            self.id = id
            self.outcome = outcome
            self.operations = operations
        }
    }

    public enum DependencyKind: String, Sendable, Equatable {
        case ww, wr, rw
    }

    /// One edge of a reported cycle: `from` must come before `to` because of `key`.
    public struct Dependency: Sendable, Equatable {
        public var from: Int
        public var to: Int
        public var kind: DependencyKind
        public var key: Int
    }

    public enum AnomalyKind: String, Sendable, Equatable, CaseIterable {
        case g0 = "G0"
        case g1a = "G1a"
        case g1b = "G1b"
        case g1c = "G1c"
        case gSingle = "G-single"
        case g2 = "G2"
        case incompatibleOrder = "incompatible-order"
        case duplicate = "duplicate"
        case internalRead = "internal"
        /// A read of a value nobody appended.
        case garbageRead = "garbage-read"
    }

    public struct Anomaly: Sendable, Equatable, CustomStringConvertible {
        public var kind: AnomalyKind
        /// The cycle, for G0, G1c, G-single and G2: each edge's `to` is the next one's
        /// `from`, and the last edge returns to the first transaction.
        public var cycle: [Dependency]
        /// What was seen, in words (the read, the writer, the lists).
        public var detail: String

        public var description: String {
            guard !cycle.isEmpty else { return "\(kind.rawValue): \(detail)" }
            let path = cycle.map { "T\($0.from) -\($0.kind.rawValue) \(ListAppendChecker.keyName($0.key))->" }.joined(separator: " ")
            return "\(kind.rawValue): \(path) T\(cycle[0].from)" + (detail.isEmpty ? "" : "; \(detail)")
        }
    }

    public struct Report: Sendable, Equatable {
        public var anomalies: [Anomaly]
        /// Edges of each kind in the dependency graph (how much the history showed).
        public var wwEdges = 0
        public var wrEdges = 0
        public var rwEdges = 0
        /// Every dependency found, between transaction positions in the history.
        public var edges: [Dependency] = []
        public var transactionsChecked: Int

        public var isSerializable: Bool { anomalies.isEmpty }
        public func count(_ kind: AnomalyKind) -> Int { anomalies.filter { $0.kind == kind }.count }
    }

    static func keyName(_ key: Int) -> String { "x\(key)" }

    /// Reports at most this many anomalies of each kind (a broken history can have
    /// thousands; the first few say what is wrong).
    public static let reportsPerKindMax = 8

    public static func check(_ history: [Transaction]) -> Report {
        var builder = GraphBuilder(history)
        builder.inferVersionOrders()
        builder.addDependencies()
        var anomalies = builder.anomalies
        anomalies += CycleSearch(builder.graph, transactionCount: history.count).anomalies(ids: history.map(\.id))
        var report = Report(anomalies: anomalies, transactionsChecked: history.count)
        report.edges = builder.graph.edges
        for edge in builder.graph.edges {
            switch edge.kind {
            case .ww: report.wwEdges += 1
            case .wr: report.wrEdges += 1
            case .rw: report.rwEdges += 1
            }
        }
        return report
    }

    // MARK: inference

    /// The dependency graph over transaction positions, edges kept in insertion order
    /// (which follows positions and keys) and deduplicated.
    struct Graph {
        var edges: [Dependency] = []
        /// Per transaction position, the indices of its outgoing edges.
        var outgoing: [[Int]]
        private var seen: Set<Int64> = []

        init(count: Int) { outgoing = Array(repeating: [], count: count) }

        mutating func add(_ from: Int, _ to: Int, _ kind: DependencyKind, key: Int) {
            guard from != to else { return }
            // One edge per (from, to, kind) is enough for cycles; the first key names it.
            let tag = (Int64(from) << 34) | (Int64(to) << 2) | Int64(kind == .ww ? 0 : kind == .wr ? 1 : 2)
            guard seen.insert(tag).inserted else { return }
            outgoing[from].append(edges.count)
            edges.append(Dependency(from: from, to: to, kind: kind, key: key))
        }
    }

    private struct GraphBuilder {
        let history: [Transaction]
        var anomalies: [Anomaly] = []
        var graph: Graph
        /// Who appended each (key, value), and where in its transaction's appends to
        /// that key it came (to tell a final append from an intermediate one).
        private var writer: [Int: [Int: (position: Int, isFinal: Bool)]] = [:]
        /// Each key's version order, as the longest read shows it; absent when reads
        /// disagree.
        private var order: [Int: [Int]] = [:]
        /// Reads that inform dependencies: committed, and before the transaction's own
        /// appends to that key. (position, key, values)
        private var externalReads: [(position: Int, key: Int, values: [Int])] = []

        init(_ history: [Transaction]) {
            self.history = history
            graph = Graph(count: history.count)
            for (position, transaction) in history.enumerated() {
                var appended: [Int: [Int]] = [:]
                for operation in transaction.operations {
                    guard case let .append(key, value) = operation else { continue }
                    appended[key, default: []].append(value)
                }
                for key in appended.keys.sorted() {
                    let values = appended[key]!
                    for (index, value) in values.enumerated() {
                        if let other = writer[key]?[value] {
                            report(.duplicate, "T\(transaction.id) and T\(history[other.position].id) both appended \(value) to \(keyName(key)); values must be unique")
                        }
                        writer[key, default: [:]][value] = (position, index == values.count - 1)
                    }
                }
            }
        }

        mutating func report(_ kind: AnomalyKind, _ detail: String, cycle: [Dependency] = []) {
            guard anomalies.filter({ $0.kind == kind }).count < reportsPerKindMax else { return }
            anomalies.append(Anomaly(kind: kind, cycle: cycle, detail: detail))
        }

        /// Whether the transaction at `position` took effect: committed, or unknown but
        /// seen by a read.
        private func committed(_ position: Int) -> Bool { history[position].outcome != .aborted }

        mutating func inferVersionOrders() {
            var readsByKey: [Int: [(position: Int, values: [Int])]] = [:]
            for (position, transaction) in history.enumerated() where transaction.outcome == .committed {
                var ownAppends: [Int: [Int]] = [:]
                for operation in transaction.operations {
                    switch operation {
                    case let .append(key, value):
                        ownAppends[key, default: []].append(value)
                    case let .read(key, values?):
                        readsByKey[key, default: []].append((position, values))
                        checkRead(position, key, values, ownAppends: ownAppends[key] ?? [])
                        if ownAppends[key] == nil { externalReads.append((position, key, values)) }
                    case .read(_, nil):
                        continue
                    }
                }
            }
            for key in readsByKey.keys.sorted() {
                let reads = readsByKey[key]!
                var longest = reads[0]
                for read in reads.dropFirst() where read.values.count > longest.values.count { longest = read }
                var consistent = true
                for read in reads where !longest.values.starts(with: read.values) {
                    consistent = false
                    report(.incompatibleOrder, "T\(history[read.position].id) read \(keyName(key)) = \(read.values) but T\(history[longest.position].id) read \(longest.values); one list must extend the other")
                    break
                }
                if consistent { order[key] = longest.values }
            }
        }

        /// The checks one read allows on its own: duplicates, aborted and intermediate
        /// values, and the transaction's own appends at the end.
        private mutating func checkRead(_ position: Int, _ key: Int, _ values: [Int], ownAppends: [Int]) {
            let reader = history[position].id
            if Set(values).count != values.count {
                report(.duplicate, "T\(reader) read \(keyName(key)) = \(values), which holds a value twice")
            }
            if !ownAppends.isEmpty, !values.reversed().starts(with: ownAppends.reversed()) {
                report(.internalRead, "T\(reader) appended \(ownAppends) to \(keyName(key)) but then read \(values)")
            }
            for value in values {
                guard let written = writer[key]?[value] else {
                    report(.garbageRead, "T\(reader) read \(value) in \(keyName(key)), which no transaction appended")
                    continue
                }
                if history[written.position].outcome == .aborted {
                    report(.g1a, "T\(reader) read \(value) in \(keyName(key)), appended by T\(history[written.position].id), which aborted")
                }
            }
            if let last = values.last, let written = writer[key]?[last], !written.isFinal, written.position != position {
                report(.g1b, "T\(reader) read \(keyName(key)) = \(values), ending in \(last), which T\(history[written.position].id) appended and then appended after")
            }
        }

        mutating func addDependencies() {
            // ww: consecutive values of each key's version order.
            for key in order.keys.sorted() {
                let values = order[key]!
                for (earlier, later) in zip(values, values.dropFirst()) {
                    guard let from = writer[key]?[earlier]?.position, let to = writer[key]?[later]?.position,
                          committed(from), committed(to) else { continue }
                    graph.add(from, to, .ww, key: key)
                }
            }
            // wr and rw: what each external read saw, and what came next.
            for read in externalReads {
                guard let values = order[read.key] else { continue }
                if let last = read.values.last, let from = writer[read.key]?[last]?.position, committed(from) {
                    graph.add(from, read.position, .wr, key: read.key)
                }
                if read.values.count < values.count, let to = writer[read.key]?[values[read.values.count]]?.position, committed(to) {
                    graph.add(read.position, to, .rw, key: read.key)
                }
            }
        }
    }

    // MARK: cycles

    /// Finds the cycles that name each anomaly, the most specific first: ww alone
    /// (G0), then ww and wr (G1c), then one rw edge closed by ww and wr (G-single),
    /// then any cycle (G2).
    private struct CycleSearch {
        let graph: Graph
        let transactionCount: Int

        init(_ graph: Graph, transactionCount: Int) {
            self.graph = graph
            self.transactionCount = transactionCount
        }

        func anomalies(ids: [Int]) -> [Anomaly] {
            var found: [Anomaly] = []
            func name(_ cycle: [Dependency]) -> [Dependency] {
                cycle.map { Dependency(from: ids[$0.from], to: ids[$0.to], kind: $0.kind, key: $0.key) }
            }
            // Transactions already shown in a more specific cycle are not reported again
            // for the same strongly connected component.
            var explained = Set<Int>()
            for (kind, allowed) in [(AnomalyKind.g0, [DependencyKind.ww]), (.g1c, [.ww, .wr])] {
                var count = 0
                for component in components(allowed) where count < reportsPerKindMax {
                    guard let cycle = closingCycle(in: component, allowed: allowed, needing: kind == .g1c ? .wr : nil) else { continue }
                    if kind == .g1c, cycle.allSatisfy({ $0.kind == .ww }) { continue }
                    found.append(Anomaly(kind: kind, cycle: name(cycle), detail: ""))
                    explained.formUnion(cycle.map(\.from))
                    count += 1
                }
            }
            // G-single, then G2: an rw edge a → b closed by a path b ⇝ a.
            var counts: [AnomalyKind: Int] = [:]
            for component in components([.ww, .wr, .rw]) {
                let members = Set(component)
                guard !members.isSubset(of: explained) else { continue }
                for edgeIndex in component.flatMap({ graph.outgoing[$0] }).sorted() {
                    let edge = graph.edges[edgeIndex]
                    guard edge.kind == .rw, members.contains(edge.to) else { continue }
                    let single = path(from: edge.to, to: edge.from, allowed: [.ww, .wr], within: members)
                    let cycle = single ?? path(from: edge.to, to: edge.from, allowed: [.ww, .wr, .rw], within: members)
                    guard let cycle else { continue }
                    let kind: AnomalyKind = single != nil ? .gSingle : .g2
                    guard counts[kind, default: 0] < reportsPerKindMax else { continue }
                    counts[kind, default: 0] += 1
                    found.append(Anomaly(kind: kind, cycle: name([edge] + cycle), detail: ""))
                    break
                }
            }
            return found
        }

        /// Strongly connected components of more than one transaction over the allowed
        /// edge kinds (Tarjan's algorithm, iterative), each sorted, in order of their
        /// first member.
        func components(_ allowed: [DependencyKind]) -> [[Int]] {
            var index = Array(repeating: -1, count: transactionCount)
            var lowLink = Array(repeating: 0, count: transactionCount)
            var onStack = Array(repeating: false, count: transactionCount)
            var stack: [Int] = []
            var next = 0
            var result: [[Int]] = []
            for root in 0..<transactionCount where index[root] < 0 {
                // Frames of (node, position in its outgoing edges).
                var frames: [(node: Int, edge: Int)] = [(root, 0)]
                index[root] = next
                lowLink[root] = next
                next += 1
                stack.append(root)
                onStack[root] = true
                while let frame = frames.last {
                    let outgoing = graph.outgoing[frame.node]
                    if frame.edge < outgoing.count {
                        frames[frames.count - 1].edge += 1
                        let edge = graph.edges[outgoing[frame.edge]]
                        guard allowed.contains(edge.kind) else { continue }
                        if index[edge.to] < 0 {
                            index[edge.to] = next
                            lowLink[edge.to] = next
                            next += 1
                            stack.append(edge.to)
                            onStack[edge.to] = true
                            frames.append((edge.to, 0))
                        } else if onStack[edge.to] {
                            lowLink[frame.node] = min(lowLink[frame.node], index[edge.to])
                        }
                        continue
                    }
                    frames.removeLast()
                    if let parent = frames.last { lowLink[parent.node] = min(lowLink[parent.node], lowLink[frame.node]) }
                    guard lowLink[frame.node] == index[frame.node] else { continue }
                    var component: [Int] = []
                    while let member = stack.popLast() {
                        onStack[member] = false
                        component.append(member)
                        if member == frame.node { break }
                    }
                    if component.count > 1 { result.append(component.sorted()) }
                }
            }
            return result.sorted { $0[0] < $1[0] }
        }

        /// A cycle through the component over the allowed kinds; with `needing`, one
        /// that uses an edge of that kind.
        func closingCycle(in component: [Int], allowed: [DependencyKind], needing: DependencyKind?) -> [Dependency]? {
            let members = Set(component)
            for node in component {
                for edgeIndex in graph.outgoing[node] {
                    let edge = graph.edges[edgeIndex]
                    guard allowed.contains(edge.kind), members.contains(edge.to), needing == nil || edge.kind == needing else { continue }
                    if let back = path(from: edge.to, to: edge.from, allowed: allowed, within: members) { return [edge] + back }
                }
            }
            return nil
        }

        /// The shortest path from `start` to `goal` over the allowed kinds, inside
        /// `members` (breadth first, edges in their stored order).
        func path(from start: Int, to goal: Int, allowed: [DependencyKind], within members: Set<Int>) -> [Dependency]? {
            var cameBy: [Int: Int] = [start: -1]
            var frontier = [start]
            while !frontier.isEmpty, cameBy[goal] == nil {
                var nextFrontier: [Int] = []
                for node in frontier {
                    for edgeIndex in graph.outgoing[node] {
                        let edge = graph.edges[edgeIndex]
                        guard allowed.contains(edge.kind), members.contains(edge.to), cameBy[edge.to] == nil else { continue }
                        cameBy[edge.to] = edgeIndex
                        nextFrontier.append(edge.to)
                    }
                }
                frontier = nextFrontier
            }
            guard cameBy[goal] != nil, start != goal else { return start == goal ? [] : nil }
            var edges: [Dependency] = []
            var node = goal
            while node != start {
                let edge = graph.edges[cameBy[node]!]
                edges.append(edge)
                node = edge.from
            }
            return edges.reversed()
        }
    }
}
