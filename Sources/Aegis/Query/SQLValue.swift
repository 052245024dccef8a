/// A SQL value, with SQLite's five storage classes so answers match SQLite's: booleans
/// are the integers 1 and 0, DECIMAL is stored as REAL, dates and timestamps as TEXT
/// in ISO 8601.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public static let `true` = SQLValue.integer(1)
    public static let `false` = SQLValue.integer(0)

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// SQLite's typeof().
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .integer: return "integer"
        case .real: return "real"
        case .text: return "text"
        case .blob: return "blob"
        }
    }

    /// As SQLite prints it (a real always shows a decimal point or exponent).
    public var description: String {
        switch self {
        case .null: return "NULL"
        case let .integer(value): return String(value)
        case let .real(value): return SQLValue.format(value)
        case let .text(text): return text
        case let .blob(bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// SQLite's text form of a REAL, printf's "%!.15g": 15 significant digits, and
    /// always a decimal point ("1.0", "1.0e+20").
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NULL" }
        if value.isInfinite { return value > 0 ? "Inf" : "-Inf" }
        if value == 0 { return "0.0" }
        // The exact decimal digits of the double (as SQLite's printf rounds the exact
        // value, not a shortest form): value = 0.digits × 10^decimalExponent.
        var (digits, decimalExponent) = SQLValue.exactDecimal(abs(value))
        while digits.first == "0" {
            digits.removeFirst()
            decimalExponent -= 1
        }
        var numbers = digits.compactMap { $0.wholeNumberValue }
        if numbers.count > 15 {
            let roundUp = numbers[15] >= 5
            numbers = Array(numbers.prefix(15))
            if roundUp {
                var index = 14
                while index >= 0 {
                    if numbers[index] == 9 {
                        numbers[index] = 0
                        index -= 1
                    } else {
                        numbers[index] += 1
                        break
                    }
                }
                if index < 0 {
                    numbers.insert(1, at: 0)
                    numbers.removeLast()
                    decimalExponent += 1
                }
            }
        }
        while numbers.count > 1, numbers.last == 0 { numbers.removeLast() }
        let sign = value < 0 ? "-" : ""
        let scientific = decimalExponent - 1
        let body = numbers.map(String.init).joined()
        if scientific < -4 || scientific >= 15 {
            let mantissa = String(body.prefix(1)) + "." + (body.count > 1 ? String(body.dropFirst()) : "0")
            let exponentText = String(abs(scientific))
            return sign + mantissa + "e" + (scientific < 0 ? "-" : "+") + (exponentText.count < 2 ? "0" : "") + exponentText
        }
        if decimalExponent <= 0 {
            return sign + "0." + String(repeating: "0", count: -decimalExponent) + body
        }
        if body.count <= decimalExponent {
            return sign + body + String(repeating: "0", count: decimalExponent - body.count) + ".0"
        }
        return sign + String(body.prefix(decimalExponent)) + "." + String(body.dropFirst(decimalExponent))
    }

    /// The exact decimal expansion of a positive finite double: its digits, and the
    /// power of ten such that value = 0.digits × 10^exponent. A double is m·2^e, so the
    /// digits are those of m·2^e (e ≥ 0) or of m·5^−e shifted −e places (e < 0).
    static func exactDecimal(_ value: Double) -> (String, Int) {
        var mantissa = value.significandBitPattern
        var exponent = Int(value.exponentBitPattern) - 1075
        if value.exponentBitPattern == 0 {
            exponent = -1074
        } else {
            mantissa |= 1 << 52
        }
        var limbs: [UInt32] = [UInt32(truncatingIfNeeded: mantissa), UInt32(truncatingIfNeeded: mantissa >> 32)]
        func multiply(by factor: UInt32) {
            var carry: UInt64 = 0
            for index in limbs.indices {
                let product = UInt64(limbs[index]) * UInt64(factor) + carry
                limbs[index] = UInt32(truncatingIfNeeded: product)
                carry = product >> 32
            }
            if carry > 0 { limbs.append(UInt32(carry)) }
        }
        var fractionDigits = 0
        if exponent >= 0 {
            for _ in 0..<exponent { multiply(by: 2) }
        } else {
            for _ in 0..<(-exponent) { multiply(by: 5) }
            fractionDigits = -exponent
        }
        // Base 10^9 chunks, least significant first, by repeated division.
        var chunks: [UInt32] = []
        while limbs.contains(where: { $0 != 0 }) {
            var remainder: UInt64 = 0
            for index in limbs.indices.reversed() {
                let current = (remainder << 32) | UInt64(limbs[index])
                limbs[index] = UInt32(current / 1_000_000_000)
                remainder = current % 1_000_000_000
            }
            chunks.append(UInt32(remainder))
            while limbs.last == 0 { limbs.removeLast() }
        }
        var digits = chunks.last.map { String($0) } ?? "0"
        for chunk in chunks.dropLast().reversed() {
            let text = String(chunk)
            digits += String(repeating: "0", count: 9 - text.count) + text
        }
        return (digits, digits.count - fractionDigits)
    }

    // MARK: conversions (SQLite's rules)

    /// The value as a number for arithmetic: text is read as the longest numeric prefix
    /// (none: 0), a blob as its text; NULL stays nil.
    var numeric: SQLValue? {
        switch self {
        case .null: return nil
        case .integer, .real: return self
        case let .text(text): return SQLValue.numericPrefix(of: text)
        case let .blob(bytes): return SQLValue.numericPrefix(of: String(decoding: bytes, as: UTF8.self))
        }
    }

    static func numericPrefix(of text: String) -> SQLValue {
        let trimmed = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var end = trimmed.startIndex
        var sawDigit = false
        var isReal = false
        var index = trimmed.startIndex
        if index < trimmed.endIndex, trimmed[index] == "+" || trimmed[index] == "-" { index = trimmed.index(after: index) }
        while index < trimmed.endIndex, trimmed[index].isASCIIDigitCharacter {
            sawDigit = true
            index = trimmed.index(after: index)
            end = index
        }
        if index < trimmed.endIndex, trimmed[index] == "." {
            var after = trimmed.index(after: index)
            var fraction = false
            while after < trimmed.endIndex, trimmed[after].isASCIIDigitCharacter {
                fraction = true
                after = trimmed.index(after: after)
            }
            if sawDigit || fraction {
                isReal = true
                sawDigit = true
                index = after
                end = after
            }
        }
        if sawDigit, index < trimmed.endIndex, trimmed[index] == "e" || trimmed[index] == "E" {
            var after = trimmed.index(after: index)
            if after < trimmed.endIndex, trimmed[after] == "+" || trimmed[after] == "-" { after = trimmed.index(after: after) }
            var exponent = false
            while after < trimmed.endIndex, trimmed[after].isASCIIDigitCharacter {
                exponent = true
                after = trimmed.index(after: after)
            }
            if exponent {
                isReal = true
                end = after
            }
        }
        guard sawDigit else { return .integer(0) }
        let number = String(trimmed[trimmed.startIndex..<end])
        if !isReal, let value = Int64(number) { return .integer(value) }
        return .real(Double(number) ?? 0)
    }

    /// The value as text, for || and text functions; NULL stays nil.
    var textValue: String? {
        switch self {
        case .null: return nil
        default: return description
        }
    }

    /// SQL's truth: NULL is unknown (nil); a number is true when not zero; text and
    /// blobs are read as numbers first.
    var truth: Bool? {
        switch numeric {
        case nil: return nil
        case let .integer(value)?: return value != 0
        case let .real(value)?: return value != 0
        default: return false
        }
    }

    static func boolean(_ value: Bool?) -> SQLValue {
        guard let value else { return .null }
        return value ? .true : .false
    }

    // MARK: ordering (SQLite's: NULL < numbers < text < blobs)

    private var classRank: Int {
        switch self {
        case .null: return 0
        case .integer, .real: return 1
        case .text: return 2
        case .blob: return 3
        }
    }

    /// Total order for sorting, grouping and DISTINCT: -1, 0 or 1. NULLs equal each
    /// other here (they group together), unlike in comparisons.
    public static func order(_ lhs: SQLValue, _ rhs: SQLValue) -> Int {
        let (left, right) = (lhs.classRank, rhs.classRank)
        if left != right { return left < right ? -1 : 1 }
        switch (lhs, rhs) {
        case (.null, .null): return 0
        case let (.integer(a), .integer(b)): return a < b ? -1 : (a > b ? 1 : 0)
        case let (.text(a), .text(b)): return compareBytes(Array(a.utf8), Array(b.utf8))
        case let (.blob(a), .blob(b)): return compareBytes(a, b)
        default: return compareNumbers(lhs, rhs)
        }
    }

    private static func compareNumbers(_ lhs: SQLValue, _ rhs: SQLValue) -> Int {
        switch (lhs, rhs) {
        case let (.integer(a), .real(b)): return -compareRealToInteger(b, a)
        case let (.real(a), .integer(b)): return compareRealToInteger(a, b)
        case let (.real(a), .real(b)):
            if a.isNaN || b.isNaN { return a.isNaN ? (b.isNaN ? 0 : -1) : 1 }
            return a < b ? -1 : (a > b ? 1 : 0)
        default: return 0
        }
    }

    /// Compares exactly, even where the integer has no exact Double.
    private static func compareRealToInteger(_ real: Double, _ integer: Int64) -> Int {
        if real.isNaN { return -1 }
        if real < -9.223372036854775808e18 { return -1 }
        if real >= 9.223372036854775808e18 { return 1 }
        let truncated = Int64(real.rounded(.towardZero))
        if truncated != integer { return truncated < integer ? -1 : 1 }
        let fraction = real - real.rounded(.towardZero)
        return fraction > 0 ? 1 : (fraction < 0 ? -1 : 0)
    }

    private static func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// Equality for grouping and DISTINCT (1 and 1.0 are the same group).
    public static func == (lhs: SQLValue, rhs: SQLValue) -> Bool { order(lhs, rhs) == 0 }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case let .integer(value): hasher.combine(Double(value))
        case let .real(value): hasher.combine(value == 0 ? 0 : value)
        case let .text(text): hasher.combine(2); hasher.combine(text.utf8.count); for byte in text.utf8 { hasher.combine(byte) }
        case let .blob(bytes): hasher.combine(3); hasher.combine(bytes)
        }
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { self >= "0" && self <= "9" }
}
