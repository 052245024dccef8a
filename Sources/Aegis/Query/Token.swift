/// The reserved words of Aegis SQL. A keyword is matched case-insensitively; quoting it
/// ("select") makes it an identifier.
public enum Keyword: String, Sendable, CaseIterable {
    case add, all, alter, and, `as`, asc, begin, between, by, `case`, cast, check, column, commit, conflict
    case create, cross, `default`, delete, desc, distinct, `do`, drop, `else`, end, escape, except, exists
    case explain, first, from, full, group, having, `if`, `in`, index, inner, insert, intersect, into, `is`
    case join, key, last, left, like, limit, not, nothing, null, nulls, offset, on, or, order, outer
    case primary, rename, right, rollback, select, set, table, then, to, transaction, union, unique
    case update, using, values, when, `where`, with, `true`, `false`

    /// Keywords by their lower-case spelling (looked up, never iterated).
    static let byName: [String: Keyword] = {
        var table: [String: Keyword] = [:]
        for keyword in Keyword.allCases { table[keyword.rawValue] = keyword }
        return table
    }()

    public var spelling: String { rawValue.uppercased() }

    /// Keywords that only mean something in one place (NULLS FIRST, PRIMARY KEY, DO
    /// NOTHING…), so they also serve as names, as in SQLite: a column named `first`.
    static let soft: Set<Keyword> = [.first, .last, .nulls, .key, .column, .conflict, .do, .nothing, .rename, .to, .transaction, .add]
}

public enum Symbol: String, Sendable {
    case leftParenthesis = "(", rightParenthesis = ")", comma = ",", semicolon = ";", dot = "."
    case plus = "+", minus = "-", star = "*", slash = "/", percent = "%", concatenate = "||"
    case equal = "=", doubleEqual = "==", notEqual = "<>", bangEqual = "!="
    case less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

public enum TokenKind: Equatable, Sendable {
    case keyword(Keyword)
    /// A bare identifier, as written (names compare case-insensitively).
    case identifier(String)
    /// A "double-quoted" identifier, case kept.
    case quotedIdentifier(String)
    case string(String)
    /// X'CAFE'
    case blob([UInt8])
    case integer(Int64)
    case real(Double)
    /// $1, $2, …
    case parameter(Int)
    case symbol(Symbol)
    case end
}

public struct Token: Equatable, Sendable {
    public var kind: TokenKind
    public var position: SourcePosition
    /// Characters the token spans in the source.
    public var length: Int

    /// How the token reads in an error message.
    public var display: String {
        switch kind {
        case let .keyword(keyword): return keyword.spelling
        case let .identifier(name): return "'\(name)'"
        case let .quotedIdentifier(name): return "\"\(name)\""
        case let .string(text): return "'\(text)'"
        case .blob: return "a blob literal"
        case let .integer(value): return String(value)
        case let .real(value): return String(value)
        case let .parameter(number): return "$\(number)"
        case let .symbol(symbol): return "'\(symbol.rawValue)'"
        case .end: return "the end of the statement"
        }
    }
}
