/// GROUP BY and aggregates: rows folded into one accumulator per group, groups given in
/// the order of their keys (as SQLite gives them), never in a hash table's order.

/// One aggregate call, its arguments bound to the input row.
struct AggregateCall: Equatable {
    /// count, sum, total, avg, min, max, group_concat; or `any` for a bare column
    /// (SQLite's: the value from some row of the group, here the last).
    var function: String
    var arguments: [Expression]
    var distinct: Bool
    var star: Bool

    func text(_ names: [String]) -> String {
        function + "(" + (distinct ? "DISTINCT " : "") + (star ? "*" : arguments.map { SQLPrinter.print(PlanNode.naming($0, names)) }.joined(separator: ", ")) + ")"
    }
}

/// An aggregate's function, resolved once per plan rather than compared by name per row.
enum AggregateKind {
    case count, sum, total, avg, min, max, groupConcat, any, unknown

    init(_ function: String) {
        switch function {
        case "count": self = .count
        case "sum": self = .sum
        case "total": self = .total
        case "avg": self = .avg
        case "min": self = .min
        case "max": self = .max
        case "group_concat": self = .groupConcat
        case "any": self = .any
        default: self = .unknown
        }
    }
}

/// One aggregate as the row loop needs it.
struct AggregateStep {
    let kind: AggregateKind
    let star: Bool
    let distinct: Bool
    let argumentCount: Int
    /// The first argument's position in the input row, when it is a plain column.
    let column: Int?

    init(_ call: AggregateCall) {
        kind = AggregateKind(call.function)
        star = call.star
        distinct = call.distinct
        argumentCount = call.arguments.count
        column = call.arguments.first.flatMap { Expression.columnPositions([$0])?.first }
    }
}

struct Accumulator {
    var count: Int64 = 0
    var integerSum: Int64 = 0
    var realSum: Double = 0
    var sawReal = false
    var overflowed = false
    var extreme: SQLValue = .null
    var pieces: [String] = []
    var separator = ","
    var last: SQLValue = .null
    var seen: Set<SQLValue>?

    /// Folds in one row: `value` is the first argument, `second` group_concat's separator.
    @inline(__always)
    mutating func add(_ call: AggregateStep, _ value: SQLValue, _ second: SQLValue?) throws(SQLError) {
        let kind = call.kind
        if call.star {
            count += 1
            return
        }
        if kind == .any {
            last = value
            return
        }
        if value.isNull { return }
        if call.distinct {
            if seen == nil { seen = [] }
            guard seen!.insert(value).inserted else { return }
        }
        count += 1
        switch kind {
        case .sum, .total, .avg:
            if case let .integer(number) = value, !sawReal, !overflowed {
                let (sum, overflow) = integerSum.addingReportingOverflow(number)
                if overflow {
                    overflowed = true
                    realSum = Double(integerSum) + Double(number)
                } else {
                    integerSum = sum
                }
            } else {
                if !sawReal && !overflowed { realSum = Double(integerSum) }
                sawReal = true
                realSum += value.asDouble
            }
        case .min:
            if extreme.isNull || SQLValue.order(value, extreme) < 0 { extreme = value }
        case .max:
            if extreme.isNull || SQLValue.order(value, extreme) > 0 { extreme = value }
        case .groupConcat:
            pieces.append(value.description)
            if let second { separator = second.isNull ? "" : second.description }
        case .count, .any, .unknown:
            break
        }
    }

    func result(_ call: AggregateCall) throws(SQLError) -> SQLValue {
        switch call.function {
        case "count": return .integer(count)
        case "any": return last
        case "min", "max": return extreme
        case "group_concat": return count == 0 ? .null : .text(pieces.joined(separator: separator))
        case "total": return .real(sawReal || overflowed ? realSum : Double(integerSum))
        case "avg": return count == 0 ? .null : .real((sawReal || overflowed ? realSum : Double(integerSum)) / Double(count))
        case "sum":
            if count == 0 { return .null }
            if overflowed && !sawReal { throw SQLError(.runtime, "integer overflow in sum(); use total() for a REAL sum") }
            return sawReal ? .real(realSum) : .integer(integerSum)
        default:
            throw SQLError(.name, "there is no aggregate \(call.function)()")
        }
    }
}

final class AggregateNode: PlanNode {
    let source: PlanNode
    let groupKeys: [Expression]
    let aggregates: [AggregateCall]
    private var output: [[SQLValue]] = []
    private var position = 0
    /// What each aggregate does per row, resolved once (no names compared, no
    /// expressions copied per row).
    private let steps: [AggregateStep]
    /// Where the group keys sit in the input row, when they are plain columns (no
    /// evaluation per row then).
    private let groupColumns: [Int]?
    private let needsContext: Bool

    init(_ source: PlanNode, groupKeys: [Expression], aggregates: [AggregateCall]) {
        self.source = source
        self.groupKeys = groupKeys
        self.aggregates = aggregates
        let steps = aggregates.map(AggregateStep.init)
        self.steps = steps
        let groupColumns = Expression.columnPositions(groupKeys)
        self.groupColumns = groupColumns
        needsContext = groupColumns == nil
            || steps.contains { $0.argumentCount > 1 || ($0.argumentCount == 1 && $0.column == nil) }
        super.init()
        estimatedRows = groupKeys.isEmpty ? 1 : max(1, source.estimatedRows / 10)
    }

    override func open(_ run: QueryRun) throws(SQLError) {
        try source.open(run)
        var keys: [[SQLValue]] = []
        /// Group g's accumulators at g * aggregates.count ..< (g + 1) * aggregates.count.
        var states: [Accumulator] = []
        /// Group position by key (by its one value when there is one key): looked up,
        /// never iterated.
        var groups: [[SQLValue]: Int] = [:]
        var singleGroups = ValueTable()
        let fresh = Array(repeating: Accumulator(), count: aggregates.count)
        while let row = try source.next() {
            // Plain columns need no evaluation context; build one only for expressions.
            let context = needsContext ? run.context(row) : EvaluationContext()
            let group: Int
            if groupKeys.count == 1 {
                let value: SQLValue
                if let groupColumns { value = row[groupColumns[0]] } else { value = try Evaluator.evaluate(groupKeys[0], context) }
                if let found = singleGroups.find(value) {
                    group = found
                } else {
                    group = keys.count
                    singleGroups.insert(value, group)
                    try run.budget.charge([value], for: "GROUP BY")
                    keys.append([value])
                    states.append(contentsOf: fresh)
                }
            } else {
                var key: [SQLValue] = []
                key.reserveCapacity(groupKeys.count)
                if let groupColumns {
                    for column in groupColumns { key.append(row[column]) }
                } else {
                    for expression in groupKeys { key.append(try Evaluator.evaluate(expression, context)) }
                }
                if let found = groups[key] {
                    group = found
                } else {
                    group = keys.count
                    groups[key] = group
                    try run.budget.charge(key, for: "GROUP BY")
                    keys.append(key)
                    states.append(contentsOf: fresh)
                }
            }
            let base = group * steps.count
            for index in steps.indices {
                let step = steps[index]
                let first: SQLValue
                if let column = step.column {
                    first = row[column]
                } else {
                    first = step.argumentCount == 0 ? SQLValue.null : try Evaluator.evaluate(aggregates[index].arguments[0], context)
                }
                let second = step.argumentCount > 1 ? try Evaluator.evaluate(aggregates[index].arguments[1], context) : nil
                try states[base + index].add(step, first, second)
            }
        }
        if groupKeys.isEmpty && keys.isEmpty {
            keys.append([])
            states.append(contentsOf: fresh)
        }
        let order = keys.indices.sorted { a, b in
            let comparison = SortNode.compare(keys[a], keys[b], groupKeys.indices.map { SortKey(index: $0, descending: false, nullsFirst: true) })
            return comparison != 0 ? comparison < 0 : a < b
        }
        output = []
        output.reserveCapacity(order.count)
        for group in order {
            var row = keys[group]
            for (index, call) in aggregates.enumerated() { row.append(try states[group * steps.count + index].result(call)) }
            output.append(row)
        }
        position = 0
    }

    override func next() throws(SQLError) -> [SQLValue]? {
        guard position < output.count else { return nil }
        position += 1
        return output[position - 1]
    }

    override var explanation: String {
        let names = source.outputNames
        return (groupKeys.isEmpty ? "AGGREGATE " : "GROUP BY " + groupKeys.map { show($0, names) }.joined(separator: ", ") + " COMPUTING ")
            + aggregates.map { $0.text(names) }.joined(separator: ", ")
    }

    override var outputNames: [String] {
        let names = source.outputNames
        return groupKeys.map { show($0, names) } + aggregates.map { $0.text(names) }
    }
    override var children: [PlanNode] { [source] }
}
