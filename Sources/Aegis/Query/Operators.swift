/// The executor: a tree of operators that each hand out one row at a time (`next()`),
/// pulled from the root. Operators that must hold rows (sorts, hash tables, the inner
/// side of a nested loop, DISTINCT) charge them to the statement's memory budget and
/// fail with a clear error past it, rather than grow without bound.

/// What one execution of a statement shares: its transaction, parameters, the rows of
/// enclosing queries (for correlated subqueries), planned subqueries and the budget.
final class QueryRun: SubplanRunner {
    let tables: RowSource
    let parameters: [SQLValue]
    let outer: [[SQLValue]]
    let subplans: [Subplan]
    let budget: MemoryBudget
    /// Results of uncorrelated subqueries, computed once per execution.
    let cache: SubplanCache

    init(tables: RowSource, parameters: [SQLValue], outer: [[SQLValue]] = [], subplans: [Subplan],
         budget: MemoryBudget, cache: SubplanCache = SubplanCache()) {
        self.tables = tables
        self.parameters = parameters
        self.outer = outer
        self.subplans = subplans
        self.budget = budget
        self.cache = cache
    }

    func context(_ row: [SQLValue]) -> EvaluationContext {
        var context = EvaluationContext(parameters: parameters)
        context.row = row
        context.outer = outer
        context.subplans = self
        return context
    }

    func evaluate(_ expression: Expression, _ row: [SQLValue]) throws(SQLError) -> SQLValue {
        try Evaluator.evaluate(expression, context(row))
    }

    func holds(_ predicate: Expression?, _ row: [SQLValue]) throws(SQLError) -> Bool {
        guard let predicate else { return true }
        return try Evaluator.evaluate(predicate, context(row)).truth == true
    }

    func run(_ id: Int, _ context: EvaluationContext) throws(SQLError) -> [[SQLValue]] {
        let subplan = subplans[id]
        if !subplan.correlated, let rows = cache.rows[id] { return rows }
        let child = QueryRun(tables: tables, parameters: parameters, outer: [context.row] + context.outer,
                             subplans: subplans, budget: budget, cache: cache)
        defer { subplan.root.detach() }
        try subplan.root.open(child)
        var rows: [[SQLValue]] = []
        while rows.count < subplan.rowsNeeded, let row = try subplan.root.next() { rows.append(row) }
        if !subplan.correlated { cache.rows[id] = rows }
        return rows
    }
}

final class SubplanCache {
    var rows: [Int: [[SQLValue]]] = [:]
}

/// A subquery inside an expression, planned once.
struct Subplan {
    var root: PlanNode
    /// Whether it reads a column of an enclosing query (then it runs per row).
    var correlated: Bool
    /// EXISTS and scalar subqueries need one row; IN needs all.
    var rowsNeeded: Int
    /// The outermost query level it reads a column of (Int.max: none).
    var outerLevel: Int
}

/// Bytes held by a statement's operators, against a limit.
final class MemoryBudget {
    let limitBytes: Int
    private(set) var usedBytes = 0

    init(limitBytes: Int) { self.limitBytes = limitBytes }

    func charge(_ row: [SQLValue], for what: String) throws(SQLError) {
        usedBytes += MemoryBudget.size(of: row)
        guard usedBytes <= limitBytes else {
            throw SQLError(.limit, "the \(what) needs more than the memory budget of \(limitBytes / (1 << 20)) MiB; narrow the query with WHERE or LIMIT, or raise the budget")
        }
    }

    func release(_ bytes: Int) { usedBytes = max(0, usedBytes - bytes) }

    static func size(of row: [SQLValue]) -> Int {
        var bytes = 32 + row.count * 24
        for value in row {
            switch value {
            case let .text(text): bytes += text.utf8.count
            case let .blob(blob): bytes += blob.count
            default: break
            }
        }
        return bytes
    }
}

/// One operator. `open` (re)starts it for a run; `next` gives rows until nil.
class PlanNode {
    /// Rows the planner expects this node to give (for choosing between plans).
    var estimatedRows: Double = 1

    /// The execution this node is part of, for nodes that read tables or evaluate
    /// expressions per row: set by `open`, let go by `detach`.
    var run: QueryRun?

    func open(_ run: QueryRun) throws(SQLError) {}
    func next() throws(SQLError) -> [SQLValue]? { nil }

    /// Lets go of the last execution (its `QueryRun`, so its transaction), here and
    /// below. A plan is kept for reuse; without this, a subquery's nodes would keep the
    /// run that keeps the subquery's plan: a cycle that is never freed.
    func detach() {
        run = nil
        for child in children { child.detach() }
    }

    /// One line for EXPLAIN, and the nodes below.
    var explanation: String { "?" }
    var children: [PlanNode] { [] }
    /// Names of the values in this node's rows, for EXPLAIN ("alias.column", or the
    /// text of a computed value).
    var outputNames: [String] { children.first?.outputNames ?? [] }

    /// `expression` as EXPLAIN shows it, columns of the row named by `names`.
    func show(_ expression: Expression, _ names: [String]) -> String {
        SQLPrinter.print(PlanNode.naming(expression, names))
    }

    static func naming(_ expression: Expression, _ names: [String]) -> Expression {
        if case let .slot(0, index, _) = expression, index < names.count {
            let name = names[index]
            let at = SourcePosition(offset: 0, line: 1, column: 1)
            // "alias.column" as scans name their outputs; a computed name such as
            // "sum(o.amount)" is one name, dot and all.
            if let dot = name.firstIndex(of: "."), dot != name.startIndex,
               name[..<dot].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                return .column(table: Name(String(name[..<dot]), quoted: true, at: at), name: Name(String(name[name.index(after: dot)...]), quoted: true, at: at))
            }
            return .column(table: nil, name: Name(name, quoted: true, at: at))
        }
        return expression.mappingChildren { naming($0, names) }
    }

    func explain(into lines: inout [String], depth: Int = 0) {
        lines.append(String(repeating: "  ", count: depth) + explanation)
        for child in children { child.explain(into: &lines, depth: depth + 1) }
    }
}

/// Rows given as expressions (VALUES, or the single empty row of a SELECT without FROM).
final class ValuesNode: PlanNode {
    let rows: [[Expression]]
    private var position = 0

    init(_ rows: [[Expression]]) {
        self.rows = rows
        super.init()
        estimatedRows = Double(rows.count)
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        position = 0
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard position < rows.count, let run else { return nil }
        var row: [SQLValue] = []
        row.reserveCapacity(rows[position].count)
        for expression in rows[position] { row.append(try run.evaluate(expression, [])) }
        position += 1
        return row
    }

    override var explanation: String { rows.count == 1 && rows[0].isEmpty ? "ONE ROW" : "VALUES (\(rows.count) rows)" }
    override var outputNames: [String] { (0..<(rows.first?.count ?? 0)).map { "column\($0 + 1)" } }
}

/// Rows held in memory (a common table expression, computed once per run).
final class MaterializedNode: PlanNode {
    let name: String
    let source: PlanNode
    private var rows: [[SQLValue]] = []
    private var position = 0
    private weak var filledFor: QueryRun?

    init(name: String, source: PlanNode) {
        self.name = name
        self.source = source
        super.init()
        estimatedRows = source.estimatedRows
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        position = 0
        if filledFor === run { return }
        try source.open(run)
        rows = []
        while let row = try source.next() {
            try run.budget.charge(row, for: "common table expression \(name)")
            rows.append(row)
        }
        filledFor = run
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard position < rows.count else { return nil }
        position += 1
        return rows[position - 1]
    }

    override var explanation: String { "CTE \(name)" }
    /// Set by the planner: the CTE's column names.
    var columnNames: [String] = []
    override var outputNames: [String] { columnNames.map { name + "." + $0 } }
    override var children: [PlanNode] { [source] }
}

final class FilterNode: PlanNode {
    let source: PlanNode
    let predicate: Expression

    init(_ source: PlanNode, _ predicate: Expression) {
        self.source = source
        self.predicate = predicate
        super.init()
        estimatedRows = source.estimatedRows * 0.5
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        try source.open(run)
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let run else { return nil }
        while let row = try source.next() {
            if try run.holds(predicate, row) { return row }
        }
        return nil
    }

    override var explanation: String { "FILTER " + show(predicate, source.outputNames) }
    override var children: [PlanNode] { [source] }
}

final class ProjectNode: PlanNode {
    let source: PlanNode
    let expressions: [Expression]

    /// When every expression is a column of the input row: their positions, copied
    /// per row without evaluating anything.
    private let columns: [Int]?

    init(_ source: PlanNode, _ expressions: [Expression]) {
        self.source = source
        self.expressions = expressions
        columns = Expression.columnPositions(expressions)
        super.init()
        estimatedRows = source.estimatedRows
    }

    /// Whether the source, a table scan, gives the projected rows itself.
    private var projectedBySource = false

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        // Plain columns of an unfiltered table scan, each once: the scan decodes just
        // those, in this order, and no row is built twice.
        if !projectedBySource, let columns, let scan = source as? TableScanNode, scan.filter == nil, Set(columns).count == columns.count {
            scan.projection = columns
            projectedBySource = true
        }
        try source.open(run)
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let run, let row = try source.next() else { return nil }
        if projectedBySource { return row }
        if let columns {
            var projected: [SQLValue] = []
            projected.reserveCapacity(columns.count)
            for column in columns { projected.append(row[column]) }
            return projected
        }
        let context = run.context(row)
        var projected: [SQLValue] = []
        projected.reserveCapacity(expressions.count)
        for expression in expressions { projected.append(try Evaluator.evaluate(expression, context)) }
        return projected
    }

    override var explanation: String {
        "PROJECT " + expressions.map { show($0, source.outputNames) }.joined(separator: ", ")
    }
    /// Set by the planner: what each projected value is called.
    var names: [String]?
    override var outputNames: [String] { names ?? expressions.map { show($0, source.outputNames) } }
    override var children: [PlanNode] { [source] }
}

/// Keeps the first `width` values of each row (drops sort keys carried past a projection).
final class TrimNode: PlanNode {
    let source: PlanNode
    let width: Int

    init(_ source: PlanNode, width: Int) {
        self.source = source
        self.width = width
        super.init()
        estimatedRows = source.estimatedRows
    }

    override func open(_ run: QueryRun) throws(SQLError) { try source.open(run) }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let row = try source.next() else { return nil }
        return row.count == width ? row : Array(row.prefix(width))
    }

    override var explanation: String { "KEEP \(width) columns" }
    override var outputNames: [String] { Array(source.outputNames.prefix(width)) }
    override var children: [PlanNode] { [source] }
}

final class LimitNode: PlanNode {
    let source: PlanNode
    let limit: Expression?
    let offset: Expression?
    private var remaining = Int.max
    private var skip = 0

    init(_ source: PlanNode, limit: Expression?, offset: Expression?) {
        self.source = source
        self.limit = limit
        self.offset = offset
        super.init()
        estimatedRows = source.estimatedRows
        if case let .literal(.integer(count))? = limit { estimatedRows = min(estimatedRows, Double(max(0, count))) }
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        func count(_ expression: Expression?, _ clause: String) throws(SQLError) -> Int? {
            guard let expression else { return nil }
            let value = try run.evaluate(expression, [])
            guard case let .integer(number) = Evaluator.numericAffinity(value) else {
                throw SQLError(.type, "\(clause) takes an integer, not \(value.typeName) \(value)")
            }
            return number < 0 ? nil : Int(number)
        }
        remaining = try count(limit, "LIMIT") ?? .max
        skip = try count(offset, "OFFSET") ?? 0
        try source.open(run)
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        while skip > 0 {
            guard try source.next() != nil else { return nil }
            skip -= 1
        }
        guard remaining > 0, let row = try source.next() else { return nil }
        remaining -= 1
        return row
    }

    override var explanation: String {
        "LIMIT " + (limit.map(SQLPrinter.print) ?? "ALL") + (offset.map { " OFFSET " + SQLPrinter.print($0) } ?? "")
    }
    override var children: [PlanNode] { [source] }
}

/// One key of a sort: a position in the row, its direction and where NULLs go.
struct SortKey {
    var index: Int
    var descending: Bool
    var nullsFirst: Bool
}

final class SortNode: PlanNode {
    let source: PlanNode
    let keys: [SortKey]
    private var rows: [[SQLValue]] = []
    private var position = 0
    private var heldBytes = 0

    init(_ source: PlanNode, keys: [SortKey]) {
        self.source = source
        self.keys = keys
        super.init()
        estimatedRows = source.estimatedRows
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run?.budget.release(heldBytes)
        self.run = run
        try source.open(run)
        var held: [[SQLValue]] = []
        heldBytes = 0
        let before = run.budget.usedBytes
        while let row = try source.next() {
            try run.budget.charge(row, for: "sort")
            held.append(row)
        }
        heldBytes = run.budget.usedBytes - before
        // Ties keep their input order (the sort is made stable by position): the same
        // input always gives the same output.
        let order = held.indices.sorted { a, b in
            let comparison = SortNode.compare(held[a], held[b], keys)
            return comparison != 0 ? comparison < 0 : a < b
        }
        rows = order.map { held[$0] }
        position = 0
    }

    static func compare(_ a: [SQLValue], _ b: [SQLValue], _ keys: [SortKey]) -> Int {
        for key in keys {
            let left = a[key.index], right = b[key.index]
            if left.isNull || right.isNull {
                if left.isNull && right.isNull { continue }
                return left.isNull == key.nullsFirst ? -1 : 1
            }
            let order = SQLValue.order(left, right)
            if order != 0 { return key.descending ? -order : order }
        }
        return 0
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard position < rows.count else {
            if !rows.isEmpty {
                rows = []
                run?.budget.release(heldBytes)
                heldBytes = 0
            }
            return nil
        }
        position += 1
        return rows[position - 1]
    }

    override var explanation: String {
        "SORT BY " + keys.map { (source.outputNames.indices.contains($0.index) ? source.outputNames[$0.index] : "#\($0.index)") + ($0.descending ? " DESC" : "") + ($0.nullsFirst != !$0.descending ? ($0.nullsFirst ? " NULLS FIRST" : " NULLS LAST") : "") }
            .joined(separator: ", ")
    }
    override var children: [PlanNode] { [source] }
}

final class DistinctNode: PlanNode {
    let source: PlanNode
    private var seen = Set<[SQLValue]>()

    init(_ source: PlanNode) {
        self.source = source
        super.init()
        estimatedRows = source.estimatedRows
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        seen = []
        try source.open(run)
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard let run else { return nil }
        while let row = try source.next() {
            if seen.insert(row).inserted {
                try run.budget.charge(row, for: "DISTINCT")
                return row
            }
        }
        return nil
    }

    override var explanation: String { "DISTINCT" }
    override var children: [PlanNode] { [source] }
}

/// UNION, UNION ALL, INTERSECT and EXCEPT, rows in order of first appearance.
final class CompoundNode: PlanNode {
    let left: PlanNode
    let right: PlanNode
    let op: CompoundOperator
    private var output: [[SQLValue]] = []
    private var position = 0
    private var readingLeft = true

    init(_ left: PlanNode, _ op: CompoundOperator, _ right: PlanNode) {
        self.left = left
        self.right = right
        self.op = op
        super.init()
        estimatedRows = left.estimatedRows + right.estimatedRows
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        self.run = run
        position = 0
        readingLeft = true
        try left.open(run)
        guard op != .unionAll else {
            try right.open(run)
            return
        }
        var seen = Set<[SQLValue]>()
        var leftRows: [[SQLValue]] = []
        while let row = try left.next() {
            guard seen.insert(row).inserted else { continue }
            try run.budget.charge(row, for: op.rawValue)
            leftRows.append(row)
        }
        try right.open(run)
        var rightRows = Set<[SQLValue]>()
        output = []
        switch op {
        case .union:
            output = leftRows
            while let row = try right.next() {
                guard seen.insert(row).inserted else { continue }
                try run.budget.charge(row, for: op.rawValue)
                output.append(row)
            }
        case .intersect, .except:
            while let row = try right.next() {
                if rightRows.insert(row).inserted { try run.budget.charge(row, for: op.rawValue) }
            }
            output = leftRows.filter { rightRows.contains($0) == (op == .intersect) }
        case .unionAll:
            break
        }
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        if op == .unionAll {
            if readingLeft {
                if let row = try left.next() { return row }
                readingLeft = false
            }
            return try right.next()
        }
        guard position < output.count else { return nil }
        position += 1
        return output[position - 1]
    }

    override var explanation: String { op.rawValue }
    override var children: [PlanNode] { [left, right] }
}
