/// Joins. A joined row is the left row followed by the right row; an outer join pads the
/// missing side with NULLs. Three methods, chosen by the planner:
/// - nested loop: the right side held in memory, every pair tried (any condition);
/// - hash: the right side held in a hash table on the equality keys;
/// - index nested loop: for each left row, the right table read by key (no memory).

/// A join that holds its right side in memory: each left row is tried against some of
/// the held rows (all of them, or those a hash table names), and with RIGHT or FULL the
/// right rows nothing matched come out at the end, padded on the left.
class HeldRightJoinNode: PlanNode {
    let left: PlanNode
    let right: PlanNode
    let kind: JoinKind
    /// Checked on each joined pair (the join's conditions).
    let predicate: Expression?
    let leftWidth: Int
    let rightWidth: Int
    // The per-row state is read and written for every pair; only this class touches
    // it, one call at a time, so Swift's dynamic exclusivity checks are left out.
    @exclusivity(unchecked) private(set) var rightRows: [[SQLValue]] = []
    @exclusivity(unchecked) private var rightMatched: [Bool] = []
    @exclusivity(unchecked) private var current: [SQLValue]?
    /// The held rows to try for the current left row (nil: all of them).
    @exclusivity(unchecked) private var candidates: [Int]?
    @exclusivity(unchecked) private var candidatePosition = 0
    @exclusivity(unchecked) private var currentMatched = false
    private var leftDone = false
    private var unmatchedPosition = 0

    init(_ left: PlanNode, _ kind: JoinKind, _ right: PlanNode, predicate: Expression?, leftWidth: Int, rightWidth: Int) {
        self.left = left
        self.right = right
        self.kind = kind
        self.predicate = predicate
        self.leftWidth = leftWidth
        self.rightWidth = rightWidth
        super.init()
    }

    /// Called for each right row as it is held, with its position.
    func hold(_ row: [SQLValue], at position: Int, _ run: QueryRun) throws(SQLError) {}

    /// The held rows worth trying for `row` (nil: every one).
    func candidates(for row: [SQLValue], _ run: QueryRun) throws(SQLError) -> [Int]? { nil }

    var what: String { "join" }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        try right.open(run)
        rightRows = []
        while let row = try right.next() {
            try run.budget.charge(row, for: what)
            try hold(row, at: rightRows.count, run)
            rightRows.append(row)
        }
        rightMatched = Array(repeating: false, count: rightRows.count)
        try left.open(run)
        current = nil
        leftDone = false
        unmatchedPosition = 0
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let run else { return nil }
        while !leftDone {
            if current == nil {
                guard let row = try left.next() else {
                    leftDone = true
                    break
                }
                current = row
                currentMatched = false
                candidates = try candidates(for: row, run)
                candidatePosition = 0
            }
            let leftRow = current!
            let count = candidates?.count ?? rightRows.count
            while candidatePosition < count {
                let index = candidates?[candidatePosition] ?? candidatePosition
                candidatePosition += 1
                let joined = leftRow + rightRows[index]
                if try run.holds(predicate, joined) {
                    currentMatched = true
                    rightMatched[index] = true
                    return joined
                }
            }
            current = nil
            if !currentMatched && (kind == .left || kind == .full) {
                return leftRow + Array(repeating: .null, count: rightWidth)
            }
        }
        if kind == .right || kind == .full {
            while unmatchedPosition < rightRows.count {
                let index = unmatchedPosition
                unmatchedPosition += 1
                if !rightMatched[index] { return Array(repeating: .null, count: leftWidth) + rightRows[index] }
            }
        }
        return nil
    }

    override var children: [PlanNode] { [left, right] }
    override var outputNames: [String] { left.outputNames + right.outputNames }
}

final class NestedLoopJoinNode: HeldRightJoinNode {
    override init(_ left: PlanNode, _ kind: JoinKind, _ right: PlanNode, predicate: Expression?, leftWidth: Int, rightWidth: Int) {
        super.init(left, kind, right, predicate: predicate, leftWidth: leftWidth, rightWidth: rightWidth)
        estimatedRows = predicate == nil ? left.estimatedRows * right.estimatedRows : max(left.estimatedRows, right.estimatedRows)
    }

    override var explanation: String {
        "NESTED LOOP \(kind.rawValue) JOIN" + (predicate.map { " ON " + show($0, outputNames) } ?? "")
    }
}

/// Equality keys of a join, with the conversion both sides get before comparing (the
/// affinity the comparison would apply).
struct JoinKeys {
    var left: [Expression]
    var right: [Expression]
    var affinities: [Evaluator.Affinity?]

    func values(_ expressions: [Expression], _ run: QueryRun, _ row: [SQLValue]) throws(SQLError) -> [SQLValue]? {
        var key: [SQLValue] = []
        key.reserveCapacity(expressions.count)
        for index in expressions.indices {
            guard let value = try value(expressions, index, run, row) else { return nil }
            key.append(value)
        }
        return key
    }

    /// Key `index` of `row` under the comparison's affinity, or nil when it is NULL
    /// (which equals nothing).
    @inline(__always)
    func value(_ expressions: [Expression], _ index: Int, _ run: QueryRun, _ row: [SQLValue]) throws(SQLError) -> SQLValue? {
        var value: SQLValue
        if case let .slot(0, column, _) = expressions[index] {
            value = row[column]
        } else {
            value = try Evaluator.evaluate(expressions[index], run.context(row))
        }
        if value.isNull { return nil }
        switch affinities[index] {
        case .numeric?: value = Evaluator.numericAffinity(value)
        case .text?: value = Evaluator.textAffinity(value)
        case nil: break
        }
        return value
    }
}

/// The held right rows found by their equality keys; the conditions (the keys among
/// them) are checked on each pair found.
final class HashJoinNode: HeldRightJoinNode {
    let keys: JoinKeys
    /// Positions of held rows by key (by its one value when there is one key). Only
    /// looked up, never iterated.
    private var table: [[SQLValue]: [Int]] = [:]
    /// One key: its bucket's position in `buckets`.
    private var singleTable = ValueTable()
    private var buckets: [[Int]] = []

    init(_ left: PlanNode, _ kind: JoinKind, _ right: PlanNode, keys: JoinKeys, residual: Expression?, leftWidth: Int, rightWidth: Int) {
        self.keys = keys
        super.init(left, kind, right, predicate: residual, leftWidth: leftWidth, rightWidth: rightWidth)
        estimatedRows = max(left.estimatedRows, right.estimatedRows)
    }

    override var what: String { "hash join" }

    override func open(_ run: QueryRun) throws(SQLError) {
        table = [:]
        singleTable = ValueTable()
        buckets = []
        try super.open(run)
    }

    override func hold(_ row: [SQLValue], at position: Int, _ run: QueryRun) throws(SQLError) {
        if keys.right.count == 1 {
            guard let key = try keys.value(keys.right, 0, run, row) else { return }
            if let bucket = singleTable.find(key) {
                buckets[bucket].append(position)
            } else {
                singleTable.insert(key, buckets.count)
                buckets.append([position])
            }
        } else if let key = try keys.values(keys.right, run, row) {
            table[key, default: []].append(position)
        }
    }

    override func candidates(for row: [SQLValue], _ run: QueryRun) throws(SQLError) -> [Int]? {
        if keys.left.count == 1 { return try keys.value(keys.left, 0, run, row).flatMap { singleTable.find($0) }.map { buckets[$0] } ?? [] }
        return try keys.values(keys.left, run, row).flatMap { table[$0] } ?? []
    }

    override var explanation: String {
        "HASH \(kind.rawValue) JOIN ON " + zip(keys.left, keys.right).map { show($0, left.outputNames) + " = " + show($1, right.outputNames) }
            .joined(separator: " AND ") + (predicate.map { " AND " + show($0, outputNames) } ?? "")
    }
}

/// For each left row, reads the matching right rows by key (primary key or index).
final class IndexJoinNode: PlanNode {
    let left: PlanNode
    let right: TableScanNode
    let kind: JoinKind
    let residual: Expression?
    let rightWidth: Int
    private var current: [SQLValue]?
    private var currentMatched = false

    init(_ left: PlanNode, _ kind: JoinKind, _ right: TableScanNode, residual: Expression?, rightWidth: Int) {
        precondition(kind == .inner || kind == .left, "an index join keeps left rows only")
        self.left = left
        self.right = right
        self.kind = kind
        self.residual = residual
        self.rightWidth = rightWidth
        super.init()
        estimatedRows = left.estimatedRows * max(1, right.estimatedRows)
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        try left.open(run)
        current = nil
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let run else { return nil }
        while true {
            if current == nil {
                guard let row = try left.next() else { return nil }
                current = row
                currentMatched = false
                try right.open(run, probe: row)
            }
            let leftRow = current!
            while let rightRow = try right.next() {
                let joined = leftRow + rightRow
                if try run.holds(residual, joined) {
                    currentMatched = true
                    return joined
                }
            }
            current = nil
            if !currentMatched && kind == .left { return leftRow + Array(repeating: .null, count: rightWidth) }
        }
    }

    override var explanation: String {
        "INDEX NESTED LOOP \(kind.rawValue) JOIN" + (residual.map { " ON " + show($0, outputNames) } ?? "")
    }
    override var children: [PlanNode] { [left, right] }
    override var outputNames: [String] { left.outputNames + right.outputNames }

    override func explain(into lines: inout [String], depth: Int) {
        right.probeNames = left.outputNames
        super.explain(into: &lines, depth: depth)
    }
}
