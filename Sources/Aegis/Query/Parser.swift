/// A recursive-descent parser for Aegis SQL. Every error names what was expected and
/// what was found, at the token's line and column; nesting is bounded, so no input can
/// exhaust the stack.
public struct Parser {
    /// Expressions and subqueries nest at most this deep.
    public static let depthMax = 200

    private let tokens: [Token]
    private var index = 0
    private var depth = 0

    public init(tokens: [Token]) {
        precondition(tokens.last?.kind == .end, "a token stream ends with .end")
        self.tokens = tokens
    }

    /// Every statement in `source`, separated by semicolons.
    public static func parse(_ source: String) throws(SQLError) -> [Statement] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        var statements: [Statement] = []
        while true {
            while parser.take(.symbol(.semicolon)) {}
            if parser.current.kind == .end { return statements }
            statements.append(try parser.statement())
            if parser.current.kind != .end { try parser.expect(.symbol(.semicolon), "';' or the end of the statement") }
        }
    }

    /// The text of each statement in `source` (split at the semicolons between them,
    /// not those inside strings or comments), after checking that all of it parses.
    public static func statementTexts(_ source: String) throws(SQLError) -> [String] {
        _ = try parse(source)
        let bytes = Array(source.utf8)
        var texts: [String] = []
        var start = 0
        for token in try Lexer.tokenize(source) where token.kind == .symbol(.semicolon) || token.kind == .end {
            let end = min(token.position.offset, bytes.count)
            let text = String(decoding: bytes[start..<end], as: UTF8.self)
            if text.contains(where: { !$0.isWhitespace }) { texts.append(text) }
            start = min(end + 1, bytes.count)
        }
        return texts
    }

    /// Exactly one statement.
    public static func parseOne(_ source: String) throws(SQLError) -> Statement {
        let statements = try parse(source)
        guard statements.count == 1 else {
            throw SQLError(.syntax, statements.isEmpty ? "there is no statement to run" : "give one statement at a time, not \(statements.count)")
        }
        return statements[0]
    }

    // MARK: tokens

    private var current: Token { tokens[index] }

    private func peekKind(_ ahead: Int) -> TokenKind {
        tokens[min(index + ahead, tokens.count - 1)].kind
    }

    private mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    private mutating func take(_ kind: TokenKind) -> Bool {
        guard current.kind == kind else { return false }
        advance()
        return true
    }

    private mutating func take(_ keyword: Keyword) -> Bool { take(.keyword(keyword)) }

    private func error(_ expected: String) -> SQLError {
        SQLError(.syntax, "expected \(expected), found \(current.display)", at: current.position, length: current.length)
    }

    private mutating func expect(_ kind: TokenKind, _ what: String) throws(SQLError) {
        guard take(kind) else { throw error(what) }
    }

    private mutating func expect(_ keyword: Keyword) throws(SQLError) {
        try expect(.keyword(keyword), keyword.spelling)
    }

    private mutating func name(_ what: String) throws(SQLError) -> Name {
        switch current.kind {
        case let .identifier(text):
            defer { advance() }
            return Name(text, at: current.position)
        case let .quotedIdentifier(text):
            defer { advance() }
            return Name(text, quoted: true, at: current.position)
        case let .keyword(keyword) where Keyword.soft.contains(keyword):
            defer { advance() }
            return Name(keyword.rawValue, at: current.position)
        case let .keyword(keyword):
            throw SQLError(.syntax, "expected \(what), found the keyword \(keyword.spelling); quote it (\"\(keyword.rawValue)\") to use it as a name",
                at: current.position, length: current.length)
        default:
            throw error(what)
        }
    }

    private mutating func nameList(_ what: String) throws(SQLError) -> [Name] {
        try expect(.symbol(.leftParenthesis), "'(' before the \(what)s")
        var names = [try name(what)]
        while take(.symbol(.comma)) { names.append(try name(what)) }
        try expect(.symbol(.rightParenthesis), "')' after the \(what)s")
        return names
    }

    private mutating func nested<T>(_ body: (inout Parser) throws(SQLError) -> T) throws(SQLError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.depthMax else {
            throw SQLError(.limit, "the statement nests more than \(Parser.depthMax) levels deep", at: current.position)
        }
        return try body(&self)
    }

    // MARK: statements

    private mutating func statement() throws(SQLError) -> Statement {
        switch current.kind {
        case .keyword(.explain):
            advance()
            return .explain(try statement())
        case .keyword(.select), .keyword(.with), .keyword(.values):
            return .select(try select())
        case .symbol(.leftParenthesis):
            return .select(try select())
        case .keyword(.create):
            advance()
            if take(.table) { return try createTable() }
            let unique = take(.unique)
            if take(.index) { return try createIndex(unique: unique) }
            throw error(unique ? "INDEX" : "TABLE or INDEX after CREATE")
        case .keyword(.drop):
            advance()
            if take(.table) {
                let ifExists = try ifExists()
                return .dropTable(name: try name("a table name"), ifExists: ifExists)
            }
            if take(.index) {
                let ifExists = try ifExists()
                return .dropIndex(name: try name("an index name"), ifExists: ifExists)
            }
            throw error("TABLE or INDEX after DROP")
        case .keyword(.alter):
            advance()
            try expect(.table)
            return try alterTable()
        case .keyword(.insert):
            advance()
            return try insert()
        case .keyword(.update):
            advance()
            return try update()
        case .keyword(.delete):
            advance()
            try expect(.from)
            let table = try name("a table name")
            return .delete(table: table, filter: take(.where) ? try expression() : nil)
        case .keyword(.begin):
            advance()
            _ = take(.transaction)
            return .begin
        case .keyword(.commit), .keyword(.end):
            advance()
            _ = take(.transaction)
            return .commit
        case .keyword(.rollback):
            advance()
            _ = take(.transaction)
            return .rollback
        default:
            throw error("a statement (SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, BEGIN, COMMIT, ROLLBACK or EXPLAIN)")
        }
    }

    private mutating func ifExists() throws(SQLError) -> Bool {
        guard take(.if) else { return false }
        try expect(.exists)
        return true
    }

    private mutating func ifNotExists() throws(SQLError) -> Bool {
        guard take(.if) else { return false }
        try expect(.not)
        try expect(.exists)
        return true
    }

    private mutating func createTable() throws(SQLError) -> Statement {
        let ifNotExists = try ifNotExists()
        let table = try name("a table name")
        try expect(.symbol(.leftParenthesis), "'(' and the column definitions")
        var columns: [ColumnDefinition] = []
        var constraints: [TableConstraint] = []
        repeat {
            switch current.kind {
            case .keyword(.primary):
                advance()
                try expect(.key)
                constraints.append(.primaryKey(try nameList("column")))
                if let buckets = try usingHash() { constraints.append(.hashPartitioned(buckets: buckets)) }
            case .keyword(.unique):
                advance()
                constraints.append(.unique(try nameList("column")))
            case .keyword(.check):
                advance()
                constraints.append(.check(try parenthesized()))
            default:
                guard constraints.isEmpty else { throw error("a table constraint (columns come first)") }
                columns.append(try columnDefinition())
            }
        } while take(.symbol(.comma))
        try expect(.symbol(.rightParenthesis), "',' or ')' in the column definitions")
        return .createTable(name: table, ifNotExists: ifNotExists, columns: columns, constraints: constraints)
    }

    /// The default number of hash buckets of a `USING HASH` primary key.
    public static let hashBucketsDefault = 16

    /// `USING HASH [WITH (bucket_count = N)]` after a PRIMARY KEY: the number of buckets.
    private mutating func usingHash() throws(SQLError) -> Int? {
        guard take(.using) else { return nil }
        guard case let .identifier(word) = current.kind, word.lowercased() == "hash" else { throw error("HASH after PRIMARY KEY … USING") }
        advance()
        guard take(.with) else { return Parser.hashBucketsDefault }
        try expect(.symbol(.leftParenthesis), "'(' before bucket_count")
        guard case let .identifier(option) = current.kind, option.lowercased() == "bucket_count" else { throw error("bucket_count") }
        advance()
        try expect(.symbol(.equal), "'=' after bucket_count")
        guard case let .integer(count) = current.kind else { throw error("a whole number of buckets") }
        let start = current
        advance()
        try expect(.symbol(.rightParenthesis), "')' after the bucket count")
        guard (2...256).contains(count) else {
            throw SQLError(.syntax, "a hash-partitioned key takes 2 to 256 buckets, not \(count)", at: start.position, length: start.length)
        }
        return Int(count)
    }

    private mutating func typeName() throws(SQLError) -> TypeName {
        let start = current
        let word: String
        switch current.kind {
        case let .identifier(text): word = text.lowercased()
        default: throw error("a type (INTEGER, BIGINT, REAL, DOUBLE, DECIMAL, TEXT, VARCHAR, BOOLEAN, BLOB, DATE or TIMESTAMP)")
        }
        advance()
        let aliases: [String: TypeName] = ["int": .integer, "bool": .boolean, "float": .real, "numeric": .decimal, "string": .text]
        guard let type = TypeName(rawValue: word) ?? aliases[word] else {
            throw SQLError(.syntax, "unknown type '\(word)'; use INTEGER, BIGINT, REAL, DOUBLE, DECIMAL, TEXT, VARCHAR, BOOLEAN, BLOB, DATE or TIMESTAMP",
                at: start.position, length: start.length)
        }
        if type == .double, case .identifier(let next) = current.kind, next.lowercased() == "precision" { advance() }
        // VARCHAR(255), DECIMAL(10, 2): the sizes are read and not enforced.
        if take(.symbol(.leftParenthesis)) {
            repeat {
                guard case .integer = current.kind else { throw error("a size in the type's parentheses") }
                advance()
            } while take(.symbol(.comma))
            try expect(.symbol(.rightParenthesis), "')' after the type's size")
        }
        return type
    }

    private mutating func columnDefinition() throws(SQLError) -> ColumnDefinition {
        var column = ColumnDefinition(name: try name("a column name"), type: try typeName())
        while true {
            if take(.primary) {
                try expect(.key)
                column.primaryKey = true
                column.hashBuckets = try usingHash()
            } else if take(.not) {
                try expect(.null)
                column.notNull = true
            } else if take(.null) {
                continue
            } else if take(.unique) {
                column.unique = true
            } else if take(.default) {
                column.defaultValue = current.kind == .symbol(.leftParenthesis) ? try parenthesized() : try unary()
            } else if take(.check) {
                column.check = try parenthesized()
            } else {
                return column
            }
        }
    }

    private mutating func parenthesized() throws(SQLError) -> Expression {
        try expect(.symbol(.leftParenthesis), "'('")
        let inner = try expression()
        try expect(.symbol(.rightParenthesis), "')'")
        return inner
    }

    private mutating func alterTable() throws(SQLError) -> Statement {
        let table = try name("a table name")
        if take(.add) {
            _ = take(.column)
            return .alterTable(name: table, .addColumn(try columnDefinition()))
        }
        if take(.drop) {
            _ = take(.column)
            return .alterTable(name: table, .dropColumn(try name("a column name")))
        }
        if take(.rename) {
            if take(.to) { return .alterTable(name: table, .renameTable(to: try name("the new table name"))) }
            _ = take(.column)
            let old = try name("a column name")
            try expect(.to)
            return .alterTable(name: table, .renameColumn(old, to: try name("the new column name")))
        }
        throw error("ADD, DROP or RENAME after ALTER TABLE \(table)")
    }

    private mutating func createIndex(unique: Bool) throws(SQLError) -> Statement {
        let ifNotExists = try ifNotExists()
        let index = try name("an index name")
        try expect(.on)
        let table = try name("a table name")
        return .createIndex(name: index, table: table, columns: try nameList("column"), unique: unique, ifNotExists: ifNotExists)
    }

    private mutating func insert() throws(SQLError) -> Statement {
        try expect(.into)
        let table = try name("a table name")
        var columns: [Name] = []
        if current.kind == .symbol(.leftParenthesis), peekKind(1) != .keyword(.select), peekKind(1) != .keyword(.with) {
            columns = try nameList("column")
        }
        let source: InsertSource
        if take(.values) {
            source = .values(try valueRows())
        } else if current.kind == .keyword(.select) || current.kind == .keyword(.with) || current.kind == .symbol(.leftParenthesis) {
            source = .select(try select())
        } else {
            throw error("VALUES or SELECT")
        }
        var onConflict: OnConflict?
        if take(.on) {
            try expect(.conflict)
            var targets: [Name] = []
            if current.kind == .symbol(.leftParenthesis) { targets = try nameList("column") }
            try expect(.do)
            if take(.nothing) {
                onConflict = OnConflict(columns: targets, action: .doNothing)
            } else {
                try expect(.update)
                try expect(.set)
                let assignments = try assignmentList()
                onConflict = OnConflict(columns: targets, action: .doUpdate(assignments: assignments, filter: take(.where) ? try expression() : nil))
            }
        }
        return .insert(table: table, columns: columns, source: source, onConflict: onConflict)
    }

    private mutating func valueRows() throws(SQLError) -> [[Expression]] {
        var rows: [[Expression]] = []
        repeat {
            try expect(.symbol(.leftParenthesis), "'(' before a row of values")
            rows.append(try expressionList())
            try expect(.symbol(.rightParenthesis), "',' or ')' in a row of values")
        } while take(.symbol(.comma))
        return rows
    }

    private mutating func assignmentList() throws(SQLError) -> [Assignment] {
        var assignments: [Assignment] = []
        repeat {
            let column = try name("a column name")
            try expect(.symbol(.equal), "'=' after the column name")
            assignments.append(Assignment(column: column, value: try expression()))
        } while take(.symbol(.comma))
        return assignments
    }

    private mutating func update() throws(SQLError) -> Statement {
        let table = try name("a table name")
        try expect(.set)
        let assignments = try assignmentList()
        return .update(table: table, assignments: assignments, filter: take(.where) ? try expression() : nil)
    }

    // MARK: SELECT

    private mutating func select() throws(SQLError) -> Select {
        try nested { (parser: inout Parser) throws(SQLError) -> Select in try parser.selectBody() }
    }

    private mutating func selectBody() throws(SQLError) -> Select {
        var ctes: [CommonTableExpression] = []
        if take(.with) {
            repeat {
                let name = try name("a name for the WITH query")
                var columns: [Name] = []
                if current.kind == .symbol(.leftParenthesis) { columns = try nameList("column") }
                try expect(.as)
                try expect(.symbol(.leftParenthesis), "'(' before the WITH query")
                let query = try select()
                try expect(.symbol(.rightParenthesis), "')' after the WITH query")
                ctes.append(CommonTableExpression(name: name, columns: columns, select: query))
            } while take(.symbol(.comma))
        }
        var result = Select(first: try selectCore())
        result.with = ctes
        while true {
            let compound: CompoundOperator
            if take(.union) {
                compound = take(.all) ? .unionAll : .union
            } else if take(.intersect) {
                compound = .intersect
            } else if take(.except) {
                compound = .except
            } else {
                break
            }
            result.compounds.append((compound, try selectCore()))
        }
        if take(.order) {
            try expect(.by)
            repeat { result.orderBy.append(try orderTerm()) } while take(.symbol(.comma))
        }
        if take(.limit) {
            let first = try expression()
            if take(.offset) {
                result.limit = first
                result.offset = try expression()
            } else if take(.symbol(.comma)) {
                // LIMIT offset, count (SQLite's and MySQL's older form)
                result.offset = first
                result.limit = try expression()
            } else {
                result.limit = first
            }
        }
        return result
    }

    private mutating func selectCore() throws(SQLError) -> SelectCore {
        var core = SelectCore()
        if take(.values) {
            core.values = try valueRows()
            return core
        }
        if current.kind == .symbol(.leftParenthesis), peekKind(1) == .keyword(.select) {
            // A parenthesized SELECT as one arm of a compound.
            advance()
            let inner = try select()
            try expect(.symbol(.rightParenthesis), "')'")
            guard inner.compounds.isEmpty, inner.orderBy.isEmpty, inner.limit == nil, inner.with.isEmpty else {
                throw error("a simple SELECT inside parentheses here")
            }
            return inner.first
        }
        try expect(.select)
        if take(.distinct) { core.distinct = true } else { _ = take(.all) }
        repeat {
            let start = current.position.offset
            let column = try resultColumn()
            core.columns.append(column)
            core.columnSpans.ranges.append(start..<current.position.offset)
        } while take(.symbol(.comma))
        if take(.from) { core.from = try fromClause() }
        if take(.where) { core.filter = try expression() }
        if take(.group) {
            try expect(.by)
            core.groupBy = try expressionList()
        }
        if take(.having) { core.having = try expression() }
        return core
    }

    private mutating func resultColumn() throws(SQLError) -> ResultColumn {
        if take(.symbol(.star)) { return .all }
        if peekKind(1) == .symbol(.dot), peekKind(2) == .symbol(.star) {
            let table = try name("a table name")
            advance()
            advance()
            return .allOf(table: table)
        }
        let value = try expression()
        if take(.as) { return .expression(value, alias: try name("an alias after AS")) }
        if case .identifier = current.kind { return .expression(value, alias: try name("an alias")) }
        if case .quotedIdentifier = current.kind { return .expression(value, alias: try name("an alias")) }
        return .expression(value, alias: nil)
    }

    private mutating func fromClause() throws(SQLError) -> TableReference {
        var left = try tableOrSubquery()
        while true {
            let kind: JoinKind
            if take(.symbol(.comma)) {
                left = .join(left, .cross, try tableOrSubquery(), .none)
                continue
            } else if take(.cross) {
                try expect(.join)
                kind = .cross
            } else if take(.inner) {
                try expect(.join)
                kind = .inner
            } else if take(.join) {
                kind = .inner
            } else if take(.left) {
                _ = take(.outer)
                try expect(.join)
                kind = .left
            } else if take(.right) {
                _ = take(.outer)
                try expect(.join)
                kind = .right
            } else if take(.full) {
                _ = take(.outer)
                try expect(.join)
                kind = .full
            } else {
                return left
            }
            let right = try tableOrSubquery()
            var constraint = JoinConstraint.none
            if take(.on) {
                constraint = .on(try expression())
            } else if take(.using) {
                constraint = .using(try nameList("column"))
            } else if kind != .cross {
                throw error("ON or USING after \(kind.rawValue) JOIN")
            }
            left = .join(left, kind, right, constraint)
        }
    }

    private mutating func tableOrSubquery() throws(SQLError) -> TableReference {
        if take(.symbol(.leftParenthesis)) {
            if current.kind == .keyword(.select) || current.kind == .keyword(.with) || current.kind == .keyword(.values) {
                let query = try select()
                try expect(.symbol(.rightParenthesis), "')' after the subquery")
                _ = take(.as)
                if take(.as) { return .subquery(query, alias: try name("an alias after AS")) }
                switch current.kind {
                case .identifier, .quotedIdentifier: return .subquery(query, alias: try name("an alias"))
                default: return .subquery(query, alias: nil)
                }
            }
            let inner = try nested { (parser: inout Parser) throws(SQLError) -> TableReference in try parser.fromClause() }
            try expect(.symbol(.rightParenthesis), "')'")
            return inner
        }
        let table = try name("a table name")
        if take(.as) { return .table(table, alias: try name("an alias after AS")) }
        switch current.kind {
        case .identifier, .quotedIdentifier: return .table(table, alias: try name("an alias"))
        default: return .table(table, alias: nil)
        }
    }

    private mutating func orderTerm() throws(SQLError) -> OrderTerm {
        let value = try expression()
        var direction = OrderTerm.Direction.ascending
        if take(.desc) { direction = .descending } else { _ = take(.asc) }
        var nulls: OrderTerm.Nulls?
        if take(.nulls) {
            if take(.first) { nulls = .first } else { try expect(.last); nulls = .last }
        }
        return OrderTerm(expression: value, direction: direction, nulls: nulls)
    }

    // MARK: expressions

    private mutating func expressionList() throws(SQLError) -> [Expression] {
        var list = [try expression()]
        while take(.symbol(.comma)) { list.append(try expression()) }
        return list
    }

    public mutating func expression() throws(SQLError) -> Expression {
        try nested { (parser: inout Parser) throws(SQLError) -> Expression in try parser.or() }
    }

    private mutating func or() throws(SQLError) -> Expression {
        var left = try and()
        while take(.or) { left = .binary(.or, left, try and()) }
        return left
    }

    private mutating func and() throws(SQLError) -> Expression {
        var left = try not()
        while take(.and) { left = .binary(.and, left, try not()) }
        return left
    }

    private mutating func not() throws(SQLError) -> Expression {
        if current.kind == .keyword(.not), peekKind(1) != .keyword(.exists) {
            advance()
            return .unary(.not, try nested { (parser: inout Parser) throws(SQLError) -> Expression in try parser.not() })
        }
        return try comparison()
    }

    /// = <> IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN, [NOT] LIKE — and < <= > >= just above.
    private mutating func comparison() throws(SQLError) -> Expression {
        var left = try ordering()
        while true {
            switch current.kind {
            case .symbol(.equal), .symbol(.doubleEqual):
                advance()
                left = .binary(.equal, left, try ordering())
            case .symbol(.notEqual), .symbol(.bangEqual):
                advance()
                left = .binary(.notEqual, left, try ordering())
            case .keyword(.is):
                advance()
                let negated = take(.not)
                try expect(.null)
                left = .isNull(left, negated: negated)
            case .keyword(.not), .keyword(.between), .keyword(.in), .keyword(.like):
                let negated = take(.not)
                if take(.between) {
                    let low = try ordering()
                    try expect(.and)
                    left = .between(left, low: low, high: try ordering(), negated: negated)
                } else if take(.in) {
                    left = try inTail(left, negated: negated)
                } else if take(.like) {
                    let pattern = try ordering()
                    left = .like(left, pattern: pattern, escape: take(.escape) ? try ordering() : nil, negated: negated)
                } else {
                    throw error("BETWEEN, IN or LIKE after NOT")
                }
            default:
                return left
            }
        }
    }

    private mutating func inTail(_ left: Expression, negated: Bool) throws(SQLError) -> Expression {
        try expect(.symbol(.leftParenthesis), "'(' after IN")
        if current.kind == .keyword(.select) || current.kind == .keyword(.with) {
            let query = try select()
            try expect(.symbol(.rightParenthesis), "')' after the subquery")
            return .inSelect(left, query, negated: negated)
        }
        if take(.symbol(.rightParenthesis)) { return .inList(left, [], negated: negated) }
        let list = try expressionList()
        try expect(.symbol(.rightParenthesis), "',' or ')' in the IN list")
        return .inList(left, list, negated: negated)
    }

    private mutating func ordering() throws(SQLError) -> Expression {
        var left = try additive()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .symbol(.less): op = .less
            case .symbol(.lessEqual): op = .lessEqual
            case .symbol(.greater): op = .greater
            case .symbol(.greaterEqual): op = .greaterEqual
            default: return left
            }
            advance()
            left = .binary(op, left, try additive())
        }
    }

    private mutating func additive() throws(SQLError) -> Expression {
        var left = try multiplicative()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .symbol(.plus): op = .add
            case .symbol(.minus): op = .subtract
            default: return left
            }
            advance()
            left = .binary(op, left, try multiplicative())
        }
    }

    private mutating func multiplicative() throws(SQLError) -> Expression {
        var left = try concatenation()
        while true {
            let op: BinaryOperator
            switch current.kind {
            case .symbol(.star): op = .multiply
            case .symbol(.slash): op = .divide
            case .symbol(.percent): op = .remainder
            default: return left
            }
            advance()
            left = .binary(op, left, try concatenation())
        }
    }

    private mutating func concatenation() throws(SQLError) -> Expression {
        var left = try unary()
        while take(.symbol(.concatenate)) { left = .binary(.concatenate, left, try unary()) }
        return left
    }

    private mutating func unary() throws(SQLError) -> Expression {
        if take(.symbol(.minus)) {
            // -9223372036854775808 is the smallest integer, though its digits alone
            // overflow (the lexer reads them as real): 19 digits, no '.' or exponent.
            if current.kind == .real(9_223_372_036_854_775_808), current.length == 19 {
                advance()
                return .literal(.integer(.min))
            }
            let operand = try nested { (parser: inout Parser) throws(SQLError) -> Expression in try parser.unary() }
            // Fold -literal so that -9223372036854775808 stays an integer.
            if case let .literal(.integer(value)) = operand, value != .min { return .literal(.integer(-value)) }
            if case let .literal(.real(value)) = operand { return .literal(.real(-value)) }
            return .unary(.negate, operand)
        }
        if take(.symbol(.plus)) {
            return .unary(.plus, try nested { (parser: inout Parser) throws(SQLError) -> Expression in try parser.unary() })
        }
        return try primary()
    }

    private mutating func primary() throws(SQLError) -> Expression {
        let token = current
        switch token.kind {
        case let .integer(value):
            advance()
            return .literal(.integer(value))
        case let .real(value):
            advance()
            return .literal(.real(value))
        case let .string(text):
            advance()
            return .literal(.text(text))
        case let .blob(bytes):
            advance()
            return .literal(.blob(bytes))
        case let .parameter(number):
            advance()
            return .parameter(number, at: Location(token.position))
        case .keyword(.null):
            advance()
            return .literal(.null)
        case .keyword(.true):
            advance()
            return .literal(.boolean(true))
        case .keyword(.false):
            advance()
            return .literal(.boolean(false))
        case .keyword(.not):
            // NOT EXISTS (…)
            advance()
            try expect(.exists)
            return .exists(try parenthesizedSelect(), negated: true)
        case .keyword(.exists):
            advance()
            return .exists(try parenthesizedSelect(), negated: false)
        case .keyword(.cast):
            advance()
            try expect(.symbol(.leftParenthesis), "'(' after CAST")
            let value = try expression()
            try expect(.as)
            let type = try typeName()
            try expect(.symbol(.rightParenthesis), "')' after the type in CAST")
            return .cast(value, type)
        case .keyword(.case):
            advance()
            return try caseExpression()
        case .keyword(.left), .keyword(.right):
            // left(text, n) and right(text, n) are functions as well as join words.
            if peekKind(1) == .symbol(.leftParenthesis) {
                let name = Name(token.kind == .keyword(.left) ? "left" : "right", at: token.position)
                advance()
                return try functionCall(name)
            }
            throw error("an expression")
        case .symbol(.leftParenthesis):
            if peekKind(1) == .keyword(.select) || peekKind(1) == .keyword(.with) {
                return .subquery(try parenthesizedSelect())
            }
            advance()
            let inner = try expression()
            try expect(.symbol(.rightParenthesis), "')'")
            return inner
        case .identifier, .quotedIdentifier, .keyword(.first), .keyword(.last), .keyword(.nulls), .keyword(.key), .keyword(.column),
             .keyword(.conflict), .keyword(.do), .keyword(.nothing), .keyword(.rename), .keyword(.to), .keyword(.transaction), .keyword(.add):
            let first = try name("a name")
            if current.kind == .symbol(.leftParenthesis), !first.quoted { return try functionCall(first) }
            if take(.symbol(.dot)) {
                return .column(table: first, name: try name("a column name after '.'"))
            }
            return .column(table: nil, name: first)
        default:
            throw error("an expression")
        }
    }

    private mutating func parenthesizedSelect() throws(SQLError) -> Select {
        try expect(.symbol(.leftParenthesis), "'(' before the subquery")
        let query = try select()
        try expect(.symbol(.rightParenthesis), "')' after the subquery")
        return query
    }

    private mutating func functionCall(_ name: Name) throws(SQLError) -> Expression {
        try expect(.symbol(.leftParenthesis), "'('")
        if take(.symbol(.star)) {
            try expect(.symbol(.rightParenthesis), "')' after *")
            return .function(name: name, arguments: [], distinct: false, star: true)
        }
        if take(.symbol(.rightParenthesis)) { return .function(name: name, arguments: [], distinct: false, star: false) }
        let distinct = take(.distinct)
        let arguments = try expressionList()
        try expect(.symbol(.rightParenthesis), "',' or ')' in the arguments of \(name.text)")
        return .function(name: name, arguments: arguments, distinct: distinct, star: false)
    }

    private mutating func caseExpression() throws(SQLError) -> Expression {
        let base = current.kind == .keyword(.when) ? nil : try expression()
        var branches: [CaseBranch] = []
        while take(.when) {
            let condition = try expression()
            try expect(.then)
            branches.append(CaseBranch(when: condition, then: try expression()))
        }
        guard !branches.isEmpty else { throw error("WHEN in CASE") }
        let otherwise = take(.else) ? try expression() : nil
        try expect(.end)
        return .caseWhen(base: base, branches: branches, otherwise: otherwise)
    }
}
