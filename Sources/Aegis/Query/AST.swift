/// The syntax tree of Aegis SQL, as the parser reads it (names are not yet resolved).

public enum Literal: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case boolean(Bool)
}

/// Where a node came from, for error messages. Two trees that differ only in where
/// their nodes were written are equal.
public struct Location: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var position: SourcePosition

    public init(_ position: SourcePosition) {
        self.position = position
    }

    public static func == (lhs: Location, rhs: Location) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
    public var description: String { position.description }
}

/// A name as written: `unquoted` names compare case-insensitively, quoted ones exactly.
public struct Name: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var text: String
    public var quoted: Bool
    public var position: SourcePosition

    public init(_ text: String, quoted: Bool = false, at position: SourcePosition) {
        self.text = text
        self.quoted = quoted
        self.position = position
    }

    /// The form names are compared and stored in.
    public var normalized: String { quoted ? text : text.lowercased() }
    public var description: String { text }

    public static func == (lhs: Name, rhs: Name) -> Bool { lhs.normalized == rhs.normalized }
    public func hash(into hasher: inout Hasher) { hasher.combine(normalized) }
}

public enum TypeName: String, Equatable, Sendable {
    case integer, bigint, real, double, decimal, text, varchar, boolean, blob, date, timestamp
}

public enum UnaryOperator: String, Equatable, Sendable {
    case negate = "-", plus = "+", not = "NOT"
}

public enum BinaryOperator: String, Equatable, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%", concatenate = "||"
    case equal = "=", notEqual = "<>", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case and = "AND", or = "OR"

    var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: return true
        default: return false
        }
    }
}

public struct CaseBranch: Equatable, Sendable {
    public var when: Expression
    public var then: Expression
}

public indirect enum Expression: Equatable, Sendable {
    case literal(Literal)
    case parameter(Int, at: Location)
    /// `name` or `table.name`.
    case column(table: Name?, name: Name)
    case unary(UnaryOperator, Expression)
    case binary(BinaryOperator, Expression, Expression)
    case isNull(Expression, negated: Bool)
    case between(Expression, low: Expression, high: Expression, negated: Bool)
    case inList(Expression, [Expression], negated: Bool)
    case inSelect(Expression, Select, negated: Bool)
    case like(Expression, pattern: Expression, escape: Expression?, negated: Bool)
    case exists(Select, negated: Bool)
    case subquery(Select)
    /// A function or aggregate call; `star` for COUNT(*).
    case function(name: Name, arguments: [Expression], distinct: Bool, star: Bool)
    case cast(Expression, TypeName)
    case caseWhen(base: Expression?, branches: [CaseBranch], otherwise: Expression?)
    /// Bound forms, which only the binder makes (the parser never does): a column of
    /// the current row (`depth` 0) or of an enclosing query's row, by position, with
    /// the affinity of its declared type.
    case slot(depth: Int, index: Int, affinity: Evaluator.Affinity?)
    /// A subquery the binder planned (`id` in the statement's plan): its first value
    /// (`.scalar`), whether it has rows (`.exists`), or whether `operand` is among its
    /// values (`.membership`).
    case subplan(id: Int, use: SubplanUse, operand: Expression?, negated: Bool)
}

extension Statement {
    /// Whether running it changes nothing (SELECT, EXPLAIN).
    public var isReadOnly: Bool {
        switch self {
        case .select, .explain: return true
        default: return false
        }
    }
}

extension Expression {
    /// This expression with each direct child replaced by `transform(child)` (a
    /// subquery's own tree is not entered).
    public func mappingChildren(_ transform: (Expression) -> Expression) -> Expression {
        switch self {
        case .literal, .parameter, .column, .exists, .subquery, .slot: return self
        case let .subplan(id, use, operand, negated): return .subplan(id: id, use: use, operand: operand.map(transform), negated: negated)
        case let .unary(op, operand): return .unary(op, transform(operand))
        case let .binary(op, left, right): return .binary(op, transform(left), transform(right))
        case let .isNull(operand, negated): return .isNull(transform(operand), negated: negated)
        case let .between(operand, low, high, negated): return .between(transform(operand), low: transform(low), high: transform(high), negated: negated)
        case let .inList(operand, list, negated): return .inList(transform(operand), list.map(transform), negated: negated)
        case let .inSelect(operand, query, negated): return .inSelect(transform(operand), query, negated: negated)
        case let .like(operand, pattern, escape, negated):
            return .like(transform(operand), pattern: transform(pattern), escape: escape.map(transform), negated: negated)
        case let .function(name, arguments, distinct, star):
            return .function(name: name, arguments: arguments.map(transform), distinct: distinct, star: star)
        case let .cast(operand, type): return .cast(transform(operand), type)
        case let .caseWhen(base, branches, otherwise):
            return .caseWhen(base: base.map(transform), branches: branches.map { CaseBranch(when: transform($0.when), then: transform($0.then)) },
                             otherwise: otherwise.map(transform))
        }
    }
}

public enum SubplanUse: String, Equatable, Sendable {
    case scalar, exists, membership
}

public struct OrderTerm: Equatable, Sendable {
    public enum Direction: Sendable { case ascending, descending }
    public enum Nulls: Sendable { case first, last }
    public var expression: Expression
    public var direction: Direction
    /// Unspecified: NULLs sort first ascending and last descending, as in SQLite.
    public var nulls: Nulls?
}

public enum ResultColumn: Equatable, Sendable {
    case all
    case allOf(table: Name)
    case expression(Expression, alias: Name?)
}

public enum JoinKind: String, Equatable, Sendable {
    case inner = "INNER", left = "LEFT", right = "RIGHT", full = "FULL", cross = "CROSS"
}

public enum JoinConstraint: Equatable, Sendable {
    case none
    case on(Expression)
    case using([Name])
}

public indirect enum TableReference: Equatable, Sendable {
    case table(Name, alias: Name?)
    /// A derived table; unnamed ones cannot be named in column references.
    case subquery(Select, alias: Name?)
    case join(TableReference, JoinKind, TableReference, JoinConstraint)
}

/// Where each result expression was written (UTF-8 offsets into the statement text), so
/// an unnamed result column can be named by its text, as SQLite names it. Never makes
/// two trees unequal.
public struct SourceSpans: Equatable, Sendable {
    public var ranges: [Range<Int>?] = []
    public static func == (lhs: SourceSpans, rhs: SourceSpans) -> Bool { true }
}

/// One SELECT … FROM … WHERE … GROUP BY … HAVING …, or a VALUES list.
public struct SelectCore: Equatable, Sendable {
    public var distinct = false
    public var columns: [ResultColumn] = []
    public var columnSpans = SourceSpans()
    public var from: TableReference?
    public var filter: Expression?
    public var groupBy: [Expression] = []
    public var having: Expression?
    /// Set instead of the above for `VALUES (…), (…)`.
    public var values: [[Expression]]?
}

public enum CompoundOperator: String, Equatable, Sendable {
    case union = "UNION", unionAll = "UNION ALL", intersect = "INTERSECT", except = "EXCEPT"
}

public struct CommonTableExpression: Equatable, Sendable {
    public var name: Name
    public var columns: [Name]
    public var select: Select
}

public struct Select: Equatable, Sendable {
    public var with: [CommonTableExpression] = []
    public var first: SelectCore
    public var compounds: [(CompoundOperator, SelectCore)] = []
    public var orderBy: [OrderTerm] = []
    public var limit: Expression?
    public var offset: Expression?

    public static func == (lhs: Select, rhs: Select) -> Bool {
        lhs.with == rhs.with && lhs.first == rhs.first && lhs.orderBy == rhs.orderBy && lhs.limit == rhs.limit
            && lhs.offset == rhs.offset && lhs.compounds.count == rhs.compounds.count
            && zip(lhs.compounds, rhs.compounds).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

public struct ColumnDefinition: Equatable, Sendable {
    public var name: Name
    public var type: TypeName
    public var primaryKey = false
    /// `PRIMARY KEY USING HASH [WITH (bucket_count = N)]`: the table's rows are stored
    /// under a hash bucket of their key (nil: in key order).
    public var hashBuckets: Int?
    public var notNull = false
    public var unique = false
    public var defaultValue: Expression?
    public var check: Expression?
}

public enum TableConstraint: Equatable, Sendable {
    case primaryKey([Name])
    /// Follows the `primaryKey` it qualifies: `PRIMARY KEY (…) USING HASH [WITH (bucket_count = N)]`.
    case hashPartitioned(buckets: Int)
    case unique([Name])
    case check(Expression)
}

public enum AlterAction: Equatable, Sendable {
    case addColumn(ColumnDefinition)
    case dropColumn(Name)
    case renameColumn(Name, to: Name)
    case renameTable(to: Name)
}

public enum ConflictAction: Equatable, Sendable {
    case doNothing
    case doUpdate(assignments: [Assignment], filter: Expression?)
}

public struct Assignment: Equatable, Sendable {
    public var column: Name
    public var value: Expression
}

public struct OnConflict: Equatable, Sendable {
    public var columns: [Name]
    public var action: ConflictAction
}

public enum InsertSource: Equatable, Sendable {
    case values([[Expression]])
    case select(Select)
}

public indirect enum Statement: Equatable, Sendable {
    case createTable(name: Name, ifNotExists: Bool, columns: [ColumnDefinition], constraints: [TableConstraint])
    case dropTable(name: Name, ifExists: Bool)
    case alterTable(name: Name, AlterAction)
    case createIndex(name: Name, table: Name, columns: [Name], unique: Bool, ifNotExists: Bool)
    case dropIndex(name: Name, ifExists: Bool)
    case insert(table: Name, columns: [Name], source: InsertSource, onConflict: OnConflict?)
    case update(table: Name, assignments: [Assignment], filter: Expression?)
    case delete(table: Name, filter: Expression?)
    case select(Select)
    case explain(Statement)
    case begin
    case commit
    case rollback
}

extension Expression {
    /// The input row positions `expressions` read, when each is a plain column of the
    /// current row (a bound slot at depth 0); nil otherwise.
    static func columnPositions(_ expressions: [Expression]) -> [Int]? {
        var positions: [Int] = []
        for expression in expressions {
            guard case let .slot(0, index, _) = expression else { return nil }
            positions.append(index)
        }
        return positions
    }
}
