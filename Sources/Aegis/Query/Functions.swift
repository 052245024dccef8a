/// Which calls are aggregates (the executor folds them over groups).
public enum Aggregates {
    public static func isAggregate(_ name: String, argumentCount: Int, star: Bool) -> Bool {
        switch name {
        case "count", "sum", "avg", "total", "group_concat": return true
        // min(x) and max(x) aggregate; with two or more arguments they are scalar.
        case "min", "max": return argumentCount == 1 || star
        default: return false
        }
    }
}

/// The scalar functions, with SQLite's behaviour: string, math and date functions.
/// Dates are ISO 8601 text; there is no 'now' (the engine has no wall clock of its own:
/// pass the time as a parameter).
enum ScalarFunctions {
    static func call(_ name: Name, _ arguments: [Expression], _ context: EvaluationContext) throws(SQLError) -> SQLValue {
        let function = name.normalized
        // Lazily evaluated: coalesce and friends stop at the first non-NULL.
        switch function {
        case "coalesce", "ifnull":
            guard arguments.count >= 2, function != "ifnull" || arguments.count == 2 else {
                throw wrongArity(name, function == "ifnull" ? "2" : "2 or more", arguments.count)
            }
            for argument in arguments {
                let value = try Evaluator.evaluate(argument, context)
                if !value.isNull { return value }
            }
            return .null
        default:
            break
        }
        var values: [SQLValue] = []
        for argument in arguments { values.append(try Evaluator.evaluate(argument, context)) }
        func arity(_ allowed: ClosedRange<Int>) throws(SQLError) {
            guard allowed.contains(values.count) else {
                throw wrongArity(name, allowed.lowerBound == allowed.upperBound ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) to \(allowed.upperBound)", values.count)
            }
        }
        switch function {
        case "abs":
            try arity(1...1)
            // Text and blobs are read as REAL (SQLite's abs).
            if case .text = values[0] { return .real(abs(values[0].asDouble)) }
            if case .blob = values[0] { return .real(abs(values[0].asDouble)) }
            switch values[0].numeric {
            case nil: return .null
            case let .integer(value)?:
                guard value != .min else { throw SQLError(.runtime, "integer overflow in abs()", at: name.position, length: 3) }
                return .integer(abs(value))
            case let .real(value)?: return .real(abs(value))
            default: return .integer(0)
            }
        case "length", "char_length":
            try arity(1...1)
            switch values[0] {
            case .null: return .null
            case let .blob(bytes): return .integer(Int64(bytes.count))
            default: return .integer(Int64(values[0].description.count))
            }
        case "lower", "upper":
            try arity(1...1)
            guard let text = values[0].textValue else { return .null }
            return .text(String(text.map { character -> Character in
                guard character.isASCII else { return character }
                return Character(function == "lower" ? character.lowercased() : character.uppercased())
            }))
        case "substr", "substring":
            try arity(2...3)
            guard let start = values[1].numeric?.asInteger else { return .null }
            let length: Int64? = values.count == 3 ? values[2].numeric?.asInteger : nil
            if values.count == 3 && length == nil { return .null }
            if case let .blob(bytes) = values[0] {
                // As in SQLite, an empty blob has no bytes to take from: NULL.
                guard !bytes.isEmpty else { return .null }
                let range = substringRange(count: bytes.count, start: start, length: length)
                return .blob(Array(bytes[range]))
            }
            guard let text = values[0].textValue else { return .null }
            let characters = Array(text)
            return .text(String(characters[substringRange(count: characters.count, start: start, length: length)]))
        case "trim", "ltrim", "rtrim":
            try arity(1...2)
            guard let text = values[0].textValue else { return .null }
            let set: Set<Character>
            if values.count == 2 {
                guard let characters = values[1].textValue else { return .null }
                set = Set(characters)
            } else {
                set = [" "]
            }
            var characters = Substring(text)
            if function != "rtrim" { characters = characters.drop { set.contains($0) } }
            if function != "ltrim" { while let last = characters.last, set.contains(last) { characters = characters.dropLast() } }
            return .text(String(characters))
        case "replace":
            try arity(3...3)
            guard let text = values[0].textValue, let target = values[1].textValue, let replacement = values[2].textValue else { return .null }
            // An empty pattern leaves the first argument as it was (a blob becomes text).
            guard !target.isEmpty else {
                if case .blob = values[0] { return .text(text) }
                return values[0]
            }
            return .text(replaceAll(text, target, replacement))
        case "instr":
            try arity(2...2)
            guard let text = values[0].textValue, let needle = values[1].textValue else { return .null }
            let haystack = Array(text)
            let target = Array(needle)
            if target.isEmpty { return .integer(1) }
            guard haystack.count >= target.count else { return .integer(0) }
            for start in 0...(haystack.count - target.count) where Array(haystack[start..<(start + target.count)]) == target {
                return .integer(Int64(start + 1))
            }
            return .integer(0)
        case "round":
            try arity(1...2)
            guard let number = values[0].numeric?.asDouble else { return .null }
            var digits: Int64 = 0
            if values.count == 2 {
                guard let requested = values[1].numeric?.asInteger else { return .null }
                digits = max(0, min(30, requested))
            }
            let scale = pow10(Int(digits))
            let rounded = (number * scale).rounded(.toNearestOrAwayFromZero) / scale
            return .real(rounded == 0 ? 0 : rounded)
        case "nullif":
            try arity(2...2)
            if !values[0].isNull, !values[1].isNull, SQLValue.order(values[0], values[1]) == 0 { return .null }
            return values[0]
        case "typeof":
            try arity(1...1)
            return .text(values[0].typeName)
        case "min", "max":
            guard values.count >= 2 else { throw wrongArity(name, "2 or more (one argument is the aggregate)", values.count) }
            if values.contains(where: \.isNull) { return .null }
            // SQLite's tie rule: min takes the later of equal values, max the earlier.
            var best = values[0]
            for value in values.dropFirst() {
                let order = SQLValue.order(best, value)
                if function == "min" ? order >= 0 : order < 0 { best = value }
            }
            return best
        case "hex":
            try arity(1...1)
            let bytes: [UInt8]
            switch values[0] {
            case .null: return .text("")
            case let .blob(blob): bytes = blob
            default: bytes = Array(values[0].description.utf8)
            }
            let digits = Array("0123456789ABCDEF")
            return .text(String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }))
        case "sqrt", "floor", "ceil", "ceiling", "sign":
            try arity(1...1)
            guard let number = values[0].numeric else { return .null }
            let x = number.asDouble
            switch function {
            case "sqrt": return x < 0 ? .null : .real(x.squareRoot())
            case "floor":
                if case .integer = number { return number }
                return .real(x.rounded(.down))
            case "sign": return .integer(x > 0 ? 1 : (x < 0 ? -1 : 0))
            default:
                if case .integer = number { return number }
                return .real(x.rounded(.up))
            }
        case "power", "pow":
            try arity(2...2)
            guard let base = values[0].numeric?.asDouble, let exponent = values[1].numeric?.asDouble else { return .null }
            return .real(power(base, exponent))
        case "date", "time", "datetime", "julianday", "unixepoch", "strftime":
            return try DateFunctions.call(function, name, values)
        default:
            throw SQLError(.name, "there is no function \(name.text)()", at: name.position, length: name.text.count)
        }
    }

    static func wrongArity(_ name: Name, _ expected: String, _ given: Int) -> SQLError {
        SQLError(.syntax, "\(name.text)() takes \(expected) argument(s), not \(given)", at: name.position, length: name.text.count)
    }

    /// SQLite's substr: 1-based; a negative start counts from the end; start 0 takes one
    /// fewer; a negative length takes the characters before the start.
    static func substringRange(count: Int, start: Int64, length: Int64?) -> Range<Int> {
        let total = Int64(count)
        var p1 = start
        var p2 = length ?? Int64(Int32.max)
        let negativeLength = p2 < 0
        if negativeLength { p2 = -p2 }
        if p1 < 0 {
            p1 += total
            if p1 < 0 {
                p2 += p1
                if p2 < 0 { p2 = 0 }
                p1 = 0
            }
        } else if p1 > 0 {
            p1 -= 1
        } else if p2 > 0 {
            p2 -= 1
        }
        if negativeLength {
            p1 -= p2
            if p1 < 0 {
                p2 += p1
                p1 = 0
            }
        }
        if p1 + p2 > total {
            p2 = max(0, total - p1)
        }
        let lower = Int(max(0, min(total, p1)))
        return lower..<Int(max(Int64(lower), min(total, p1 + p2)))
    }

    static func replaceAll(_ text: String, _ target: String, _ replacement: String) -> String {
        let characters = Array(text)
        let needle = Array(target)
        var result = ""
        var index = 0
        while index < characters.count {
            if index + needle.count <= characters.count, Array(characters[index..<(index + needle.count)]) == needle {
                result += replacement
                index += needle.count
            } else {
                result.append(characters[index])
                index += 1
            }
        }
        return result
    }

    static func pow10(_ digits: Int) -> Double {
        var value = 1.0
        for _ in 0..<digits { value *= 10 }
        return value
    }

    /// x^y: repeated squaring for whole exponents, else exp(y·log x) from `SQLMath`,
    /// which uses only IEEE-exact operations, so every replica computes the same bits.
    static func power(_ base: Double, _ exponent: Double) -> Double {
        if exponent == exponent.rounded(), abs(exponent) < 1e9 {
            var result = 1.0
            var factor = base
            var n = Int64(abs(exponent))
            while n > 0 {
                if n & 1 == 1 { result *= factor }
                factor *= factor
                n >>= 1
            }
            return exponent < 0 ? 1 / result : result
        }
        if base < 0 { return .nan }
        return SQLMath.exp(exponent * SQLMath.log(base))
    }
}
