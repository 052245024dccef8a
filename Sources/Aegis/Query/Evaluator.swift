/// What an expression can see while it is evaluated: the parameters, the current row
/// and those of enclosing queries, and the statement's planned subqueries. Columns and
/// subqueries are evaluated only in their bound forms (`.slot`, `.subplan`), which the
/// planner makes; unbound, they are an error.
public struct EvaluationContext {
    public var parameters: [SQLValue]
    /// The current row, which bound `.slot(depth: 0, …)` columns read.
    public var row: [SQLValue] = []
    /// Rows of the enclosing queries, innermost first (`.slot(depth: 1, …)` is `outer[0]`).
    public var outer: [[SQLValue]] = []
    /// Runs planned subqueries (the executor provides it; a reference, not a closure,
    /// so making a context per row allocates nothing).
    public var subplans: (any SubplanRunner)?

    public init(parameters: [SQLValue] = []) {
        self.parameters = parameters
    }
}

/// Runs the subqueries a statement's expressions hold.
public protocol SubplanRunner: AnyObject {
    func run(_ id: Int, _ context: EvaluationContext) throws(SQLError) -> [[SQLValue]]
}

/// Evaluates scalar expressions with SQL's three-valued logic and SQLite's arithmetic:
/// integer overflow turns into REAL, division by zero gives NULL, text in arithmetic is
/// read as its numeric prefix. Aggregates are the executor's; here they are an error.
public enum Evaluator {
    public static func evaluate(_ expression: Expression, _ context: EvaluationContext) throws(SQLError) -> SQLValue {
        switch expression {
        case let .literal(literal):
            return value(of: literal)
        case let .parameter(number, location):
            guard number <= context.parameters.count else {
                throw SQLError(.runtime, "the statement uses $\(number) but \(context.parameters.count) parameter(s) were given", at: location.position, length: 2)
            }
            return context.parameters[number - 1]
        case let .column(_, name):
            throw SQLError(.name, "there is no column \(name.text) here", at: name.position, length: name.text.count)
        case let .slot(depth, index, _):
            return depth == 0 ? context.row[index] : context.outer[depth - 1][index]
        case let .subplan(id, use, operand, negated):
            guard let runner = context.subplans else { throw SQLError(.runtime, "a subquery needs a query to run in") }
            func run(_ id: Int, _ context: EvaluationContext) throws(SQLError) -> [[SQLValue]] { try runner.run(id, context) }
            switch use {
            case .exists:
                return SQLValue.boolean(try !run(id, context).isEmpty != negated)
            case .scalar:
                guard let first = try run(id, context).first else { return .null }
                return first[0]
            case .membership:
                guard let operand else { return .null }
                let value = try evaluate(operand, context)
                let rows = try run(id, context)
                return SQLValue.boolean(membership(value, in: rows.map { applyAffinity(value, affinity(of: operand), $0[0], nil).1 }, negated: negated))
            }
        case let .unary(op, operand):
            let value = try evaluate(operand, context)
            switch op {
            case .not: return SQLValue.boolean(value.truth.map { !$0 })
            case .plus: return value
            case .negate: return try negate(value)
            }
        case let .binary(.and, left, right):
            let l = try evaluate(left, context).truth
            if l == false { return .false }
            let r = try evaluate(right, context).truth
            if r == false { return .false }
            return l == nil || r == nil ? .null : .true
        case let .binary(.or, left, right):
            let l = try evaluate(left, context).truth
            if l == true { return .true }
            let r = try evaluate(right, context).truth
            if r == true { return .true }
            return l == nil || r == nil ? .null : .false
        case let .binary(op, left, right) where op.isComparison:
            let (l, r) = applyAffinity(try evaluate(left, context), affinity(of: left), try evaluate(right, context), affinity(of: right))
            return try binary(op, l, r)
        case let .binary(op, left, right):
            return try binary(op, try evaluate(left, context), try evaluate(right, context))
        case let .isNull(operand, negated):
            return SQLValue.boolean(try evaluate(operand, context).isNull != negated)
        case let .between(operand, low, high, negated):
            let value = try evaluate(operand, context)
            let (a, lowValue) = applyAffinity(value, affinity(of: operand), try evaluate(low, context), affinity(of: low))
            let (b, highValue) = applyAffinity(value, affinity(of: operand), try evaluate(high, context), affinity(of: high))
            let lower = try binary(.greaterEqual, a, lowValue).truth
            let upper = try binary(.lessEqual, b, highValue).truth
            let inside: Bool? = lower == false || upper == false ? false : (lower == nil || upper == nil ? nil : true)
            return SQLValue.boolean(negated ? inside.map { !$0 } : inside)
        case let .inList(operand, list, negated):
            let value = try evaluate(operand, context)
            var candidates: [SQLValue] = []
            for item in list {
                candidates.append(applyAffinity(value, affinity(of: operand), try evaluate(item, context), affinity(of: item)).1)
            }
            return SQLValue.boolean(membership(value, in: candidates, negated: negated))
        case .inSelect, .exists, .subquery:
            throw SQLError(.runtime, "a subquery needs a query to run in")
        case let .like(operand, pattern, escape, negated):
            let value = try evaluate(operand, context)
            let patternValue = try evaluate(pattern, context)
            var escapeCharacter: Character?
            if let escape {
                let escapeValue = try evaluate(escape, context)
                guard let text = escapeValue.textValue, text.count == 1 else {
                    if escapeValue.isNull { return .null }
                    throw SQLError(.runtime, "ESCAPE takes a single character")
                }
                escapeCharacter = text.first
            }
            guard let text = value.textValue, let likePattern = patternValue.textValue else { return .null }
            let matched = like(Array(text), Array(likePattern), escape: escapeCharacter)
            return SQLValue.boolean(matched != negated)
        case let .function(name, arguments, distinct, star):
            if Aggregates.isAggregate(name.normalized, argumentCount: arguments.count, star: star) {
                throw SQLError(.runtime, "the aggregate \(name.text)() is not allowed here", at: name.position, length: name.text.count)
            }
            guard !distinct, !star else {
                throw SQLError(.syntax, "DISTINCT and * are for aggregates, and \(name.text)() is not one", at: name.position, length: name.text.count)
            }
            return try ScalarFunctions.call(name, arguments, context)
        case let .cast(operand, type):
            return cast(try evaluate(operand, context), to: type)
        case let .caseWhen(base, branches, otherwise):
            if let base {
                let subject = try evaluate(base, context)
                for branch in branches {
                    let (l, r) = applyAffinity(subject, affinity(of: base), try evaluate(branch.when, context), affinity(of: branch.when))
                    if try binary(.equal, l, r).truth == true { return try evaluate(branch.then, context) }
                }
            } else {
                for branch in branches where try evaluate(branch.when, context).truth == true {
                    return try evaluate(branch.then, context)
                }
            }
            return try otherwise.map { expression throws(SQLError) in try evaluate(expression, context) } ?? .null
        }
    }

    /// SQLite's column affinities, as far as an expression carries one: a CAST has its
    /// type's; a column will have its declared type's (the binder's); the rest none.
    public enum Affinity: Sendable { case numeric, text }

    static func affinity(of expression: Expression) -> Affinity? {
        switch expression {
        case let .slot(_, _, affinity):
            return affinity
        case let .cast(_, type):
            switch type {
            case .integer, .bigint, .real, .double, .decimal, .boolean: return .numeric
            case .text, .varchar, .date, .timestamp: return .text
            case .blob: return nil
            }
        default:
            return nil
        }
    }

    /// Before a comparison (SQLite's rules): a numeric side makes the other numeric when
    /// it can be; otherwise a text side makes a side without affinity text.
    static func applyAffinity(_ left: SQLValue, _ leftAffinity: Affinity?, _ right: SQLValue, _ rightAffinity: Affinity?) -> (SQLValue, SQLValue) {
        switch (leftAffinity, rightAffinity) {
        case (.numeric?, .numeric?): return (left, right)
        case (.numeric?, _): return (left, numericAffinity(right))
        case (_, .numeric?): return (numericAffinity(left), right)
        case (.text?, nil): return (left, textAffinity(right))
        case (nil, .text?): return (textAffinity(left), right)
        default: return (left, right)
        }
    }

    static func numericAffinity(_ value: SQLValue) -> SQLValue {
        guard case let .text(text) = value else { return value }
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCIIDigitCharacter || "+-.eE".contains($0) }) else { return value }
        if let integer = Int64(trimmed) { return .integer(integer) }
        if let real = Double(trimmed) { return .real(real) }
        return value
    }

    static func textAffinity(_ value: SQLValue) -> SQLValue {
        switch value {
        case .integer, .real: return .text(value.description)
        default: return value
        }
    }

    public static func value(of literal: Literal) -> SQLValue {
        switch literal {
        case .null: return .null
        case let .integer(value): return .integer(value)
        case let .real(value): return .real(value)
        case let .text(text): return .text(text)
        case let .blob(bytes): return .blob(bytes)
        case let .boolean(flag): return flag ? .true : .false
        }
    }

    static func membership(_ value: SQLValue, in candidates: [SQLValue], negated: Bool) -> Bool? {
        if candidates.isEmpty { return negated }
        if value.isNull { return nil }
        var sawNull = false
        for candidate in candidates {
            if candidate.isNull {
                sawNull = true
            } else if SQLValue.order(value, candidate) == 0 {
                return !negated
            }
        }
        return sawNull ? nil : negated
    }

    static func negate(_ value: SQLValue) throws(SQLError) -> SQLValue {
        switch value.numeric {
        case nil: return .null
        case let .integer(number)?:
            return number == .min ? .real(-Double(number)) : .integer(-number)
        case let .real(number)?: return .real(number == 0 ? 0 : -number)
        default: return .integer(0)
        }
    }

    static func binary(_ op: BinaryOperator, _ left: SQLValue, _ right: SQLValue) throws(SQLError) -> SQLValue {
        switch op {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual:
            if left.isNull || right.isNull { return .null }
            let order = SQLValue.order(left, right)
            switch op {
            case .equal: return SQLValue.boolean(order == 0)
            case .notEqual: return SQLValue.boolean(order != 0)
            case .less: return SQLValue.boolean(order < 0)
            case .lessEqual: return SQLValue.boolean(order <= 0)
            case .greater: return SQLValue.boolean(order > 0)
            default: return SQLValue.boolean(order >= 0)
            }
        case .concatenate:
            guard let l = left.textValue, let r = right.textValue else { return .null }
            return .text(l + r)
        case .and, .or:
            preconditionFailure("AND and OR short-circuit in evaluate")
        case .add, .subtract, .multiply, .divide, .remainder:
            guard let l = left.numeric, let r = right.numeric else { return .null }
            return arithmetic(op, l, r, left.realValue, right.realValue)
        }
    }

    /// `a`, `b`: the operands as REAL (text "-" is -0.0 there, though 0 as a number).
    private static func arithmetic(_ op: BinaryOperator, _ l: SQLValue, _ r: SQLValue, _ a: Double, _ b: Double) -> SQLValue {
        if case let .integer(a) = l, case let .integer(b) = r {
            switch op {
            case .add:
                let (sum, overflow) = a.addingReportingOverflow(b)
                return overflow ? .real(Double(a) + Double(b)) : .integer(sum)
            case .subtract:
                let (difference, overflow) = a.subtractingReportingOverflow(b)
                return overflow ? .real(Double(a) - Double(b)) : .integer(difference)
            case .multiply:
                let (product, overflow) = a.multipliedReportingOverflow(by: b)
                return overflow ? .real(Double(a) * Double(b)) : .integer(product)
            case .divide:
                if b == 0 { return .null }
                if a == .min && b == -1 { return .real(-Double(a)) }
                return .integer(a / b)
            default:
                if b == 0 { return .null }
                if b == -1 { return .integer(0) }
                return .integer(a % b)
            }
        }
        func real(_ value: Double) -> SQLValue { value.isNaN ? .null : .real(value) }
        switch op {
        case .add: return real(a + b)
        case .subtract: return real(a - b)
        case .multiply: return real(a * b)
        case .divide: return b == 0 ? .null : real(a / b)
        default:
            // SQLite's %: both operands as integers; REAL if either was REAL.
            guard let x = l.asInteger, let y = r.asInteger, y != 0 else { return .null }
            return .real(Double(y == -1 ? 0 : x % y))
        }
    }

    /// SQLite's CAST: to INTEGER truncates (text by its numeric prefix), to REAL
    /// converts, to TEXT prints, to BOOLEAN is INTEGER 0/1 by truth, to BLOB keeps bytes.
    public static func cast(_ value: SQLValue, to type: TypeName) -> SQLValue {
        if value.isNull { return .null }
        switch type {
        case .integer, .bigint:
            switch value {
            case let .integer(number): return .integer(number)
            case let .real(number): return .integer(SQLValue.real(number).asInteger ?? 0)
            case let .text(text): return .integer(integerPrefix(text))
            case let .blob(bytes): return .integer(integerPrefix(String(decoding: bytes, as: UTF8.self)))
            case .null: return .null
            }
        case .real, .double, .decimal:
            return .real(value.realValue)
        case .text, .varchar, .date, .timestamp:
            if case let .blob(bytes) = value { return .text(String(decoding: bytes, as: UTF8.self)) }
            return .text(value.description)
        case .boolean:
            return value.truth.map { $0 ? SQLValue.true : SQLValue.false } ?? .null
        case .blob:
            if case let .blob(bytes) = value { return .blob(bytes) }
            return .blob(Array(value.description.utf8))
        }
    }

    /// Text to INTEGER as SQLite's CAST reads it: optional sign and the leading digits
    /// only (no fraction, no exponent); past 64 bits, the nearest bound.
    static func integerPrefix(_ text: String) -> Int64 {
        var characters = Substring(text.trimmingSpaces)
        var negative = false
        if let sign = characters.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            characters = characters.dropFirst()
        }
        var magnitude: UInt64 = 0
        var overflow = false
        for character in characters {
            guard character.isASCIIDigitCharacter, let digit = character.wholeNumberValue else { break }
            let (times, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { overflow = true; break }
            magnitude = sum
        }
        if negative {
            return overflow || magnitude > UInt64(Int64.max) + 1 ? .min : (magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
        }
        return overflow || magnitude > UInt64(Int64.max) ? .max : Int64(magnitude)
    }

    /// LIKE: % any run, _ any one character, ASCII letters match either case. Greedy
    /// with backtracking to the last %, iterative (no recursion on long text).
    static func like(_ text: [Character], _ pattern: [Character], escape: Character?) -> Bool {
        enum Piece { case one, many, literal(Character) }
        var pieces: [Piece] = []
        var index = 0
        while index < pattern.count {
            let character = pattern[index]
            if let escape, character == escape, index + 1 < pattern.count {
                pieces.append(.literal(pattern[index + 1]))
                index += 2
                continue
            }
            pieces.append(character == "%" ? .many : character == "_" ? .one : .literal(character))
            index += 1
        }
        var t = 0
        var p = 0
        var lastMany = -1
        var resumeAt = 0
        while t < text.count {
            if p < pieces.count, case .many = pieces[p] {
                lastMany = p
                resumeAt = t
                p += 1
                continue
            }
            if p < pieces.count {
                switch pieces[p] {
                case .one:
                    t += 1
                    p += 1
                    continue
                case let .literal(character) where sameLetter(text[t], character):
                    t += 1
                    p += 1
                    continue
                default:
                    break
                }
            }
            guard lastMany >= 0 else { return false }
            p = lastMany + 1
            resumeAt += 1
            t = resumeAt
        }
        while p < pieces.count, case .many = pieces[p] { p += 1 }
        return p == pieces.count
    }

    private static func sameLetter(_ a: Character, _ b: Character) -> Bool {
        if a == b { return true }
        guard a.isASCII, b.isASCII else { return false }
        return a.lowercased() == b.lowercased()
    }
}

extension SQLValue {
    var asDouble: Double {
        switch self {
        case let .integer(value): return Double(value)
        case let .real(value): return value
        default: return numeric?.asDouble ?? 0
        }
    }

    /// The value as REAL the way SQLite converts it: text by its numeric prefix, where a
    /// lone minus sign reads as -0.0.
    var realValue: Double {
        switch self {
        case let .integer(value): return Double(value)
        case let .real(value): return value
        case .null: return 0
        case .text, .blob:
            let number = numeric?.asDouble ?? 0
            if number == 0, description.trimmingSpaces.first == "-" { return -0.0 }
            return number
        }
    }

    var asInteger: Int64? {
        switch self {
        case let .integer(value): return value
        case let .real(value):
            if value.isNaN { return nil }
            if let exact = Int64(exactly: value.rounded(.towardZero)) { return exact }
            return value < 0 ? Int64.min : Int64.max
        default: return numeric?.asInteger
        }
    }
}
