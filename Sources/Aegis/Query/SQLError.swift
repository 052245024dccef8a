/// Where in a statement's text something is: a UTF-8 offset, and the 1-based line and
/// column (in characters) a person would count.
public struct SourcePosition: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var line: Int
    public var column: Int

    public init(offset: Int, line: Int, column: Int) {
        self.offset = offset
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// An error in a SQL statement: what kind, one sentence, and where (when known). Every
/// error a user can cause is one of these; none crashes the process.
public struct SQLError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The text is not SQL this engine reads.
        case syntax
        /// A table, column, index or function that does not exist, or already does.
        case name
        /// Values of the wrong type.
        case type
        /// A constraint would be broken (NOT NULL, UNIQUE, PRIMARY KEY, CHECK).
        case constraint
        /// A limit was reached (statement length, nesting depth, memory budget).
        case limit
        /// Anything else found while running (division by zero is NULL, not this).
        case runtime
        /// The transaction lost to a concurrent one and was rolled back: retry it.
        case conflict
        /// The storage below failed (a disk error or damage); the statement did nothing.
        case storage
    }

    public var kind: Kind
    public var message: String
    public var position: SourcePosition?
    /// How many characters the offending token spans (for the caret line).
    public var length: Int

    public init(_ kind: Kind, _ message: String, at position: SourcePosition? = nil, length: Int = 1) {
        self.kind = kind
        self.message = message
        self.position = position
        self.length = max(1, length)
    }

    public var description: String {
        guard let position else { return "\(kind.rawValue) error: \(message)" }
        return "\(kind.rawValue) error at \(position): \(message)"
    }

    /// The message, the offending line of `source`, and carets under the token:
    ///
    ///     syntax error at line 1, column 10: expected FROM, found 'FORM'
    ///       SELECT a FORM t
    ///                ^^^^
    public func rendered(in source: String) -> String {
        guard let position else { return description }
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard position.line >= 1, position.line <= lines.count else { return description }
        let line = String(lines[position.line - 1]).replacingTabs
        let available = max(1, line.count - (position.column - 1))
        let carets = String(repeating: "^", count: min(length, available))
        return description + "\n  " + line + "\n  " + String(repeating: " ", count: position.column - 1) + carets
    }
}

extension String {
    fileprivate var replacingTabs: String {
        String(map { $0 == "\t" ? " " : $0 })
    }
}

extension SQLError {
    /// A storage failure as the SQL user sees it.
    init(_ error: StorageError) {
        switch error {
        case .conflict:
            self.init(.conflict, "the transaction conflicted with a concurrent one and was rolled back; run it again")
        case .keyTooLarge, .valueTooLarge, .batchTooLarge, .emptyKey:
            self.init(.limit, error.description)
        default:
            self.init(.storage, error.description)
        }
    }
}
