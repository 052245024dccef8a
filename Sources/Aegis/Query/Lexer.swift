/// Splits SQL text into tokens, each with its line and column. Comments (`-- …` to the
/// end of the line, `/* … */`) and white space separate tokens and are dropped.
public struct Lexer {
    /// Statements longer than this are refused rather than read.
    public static let sourceBytesMax = 1 << 20

    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var line = 1
    private var column = 1
    private var offset = 0

    public init(_ source: String) {
        scalars = Array(source.unicodeScalars)
    }

    /// Every token, ending with `.end`.
    public static func tokenize(_ source: String) throws(SQLError) -> [Token] {
        guard source.utf8.count <= sourceBytesMax else {
            throw SQLError(.limit, "the statement is \(source.utf8.count) bytes; statements are at most \(sourceBytesMax) bytes")
        }
        var lexer = Lexer(source)
        var tokens: [Token] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private var position: SourcePosition { SourcePosition(offset: offset, line: line, column: column) }

    private func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
        index + ahead < scalars.count ? scalars[index + ahead] : nil
    }

    private mutating func advance() {
        let scalar = scalars[index]
        index += 1
        offset += String(scalar).utf8.count
        if scalar == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
    }

    private mutating func skipSpaceAndComments() throws(SQLError) {
        while let scalar = peek() {
            if scalar.properties.isWhitespace {
                advance()
            } else if scalar == "-", peek(1) == "-" {
                while let next = peek(), next != "\n" { advance() }
            } else if scalar == "/", peek(1) == "*" {
                let start = position
                advance()
                advance()
                while true {
                    guard let next = peek() else { throw SQLError(.syntax, "a /* comment is never closed with */", at: start, length: 2) }
                    if next == "*", peek(1) == "/" {
                        advance()
                        advance()
                        break
                    }
                    advance()
                }
            } else {
                return
            }
        }
    }

    public mutating func next() throws(SQLError) -> Token {
        try skipSpaceAndComments()
        let start = position
        let startColumn = column
        func token(_ kind: TokenKind) -> Token {
            Token(kind: kind, position: start, length: max(1, column - startColumn))
        }
        guard let scalar = peek() else { return Token(kind: .end, position: start, length: 1) }

        if scalar == "x" || scalar == "X", peek(1) == "'" {
            advance()
            let text = try quoted(by: "'", start: start, what: "blob literal")
            guard text.count % 2 == 0, let bytes = Lexer.hexBytes(text) else {
                throw SQLError(.syntax, "a blob literal needs an even number of hex digits, like X'CAFE'", at: start, length: text.count + 3)
            }
            return token(.blob(bytes))
        }
        if scalar.properties.isAlphabetic || scalar == "_" {
            var word = ""
            while let next = peek(), next.properties.isAlphabetic || next.properties.numericType != nil || next == "_" || next == "$" {
                word.unicodeScalars.append(next)
                advance()
            }
            if let keyword = Keyword.byName[word.lowercased()] { return token(.keyword(keyword)) }
            return token(.identifier(word))
        }
        if scalar.isASCIIDigit || (scalar == "." && peek(1)?.isASCIIDigit == true) {
            return token(try number(start: start))
        }
        switch scalar {
        case "'":
            return token(.string(try quoted(by: "'", start: start, what: "string")))
        case "\"":
            let name = try quoted(by: "\"", start: start, what: "quoted identifier")
            guard !name.isEmpty else { throw SQLError(.syntax, "an identifier cannot be empty", at: start, length: 2) }
            return token(.quotedIdentifier(name))
        case "`":
            let name = try quoted(by: "`", start: start, what: "quoted identifier")
            guard !name.isEmpty else { throw SQLError(.syntax, "an identifier cannot be empty", at: start, length: 2) }
            return token(.quotedIdentifier(name))
        case "$":
            advance()
            var digits = ""
            while let next = peek(), next.isASCIIDigit, digits.count < 6 {
                digits.unicodeScalars.append(next)
                advance()
            }
            guard let number = Int(digits), number >= 1 else {
                throw SQLError(.syntax, "a parameter is $ and a number from 1, like $1", at: start, length: 1 + digits.count)
            }
            return token(.parameter(number))
        default:
            break
        }
        let two = peek(1).map { String(scalar) + String($0) }
        if let two, let symbol = Symbol(rawValue: two) {
            advance()
            advance()
            return token(.symbol(symbol))
        }
        if let symbol = Symbol(rawValue: String(scalar)) {
            advance()
            return token(.symbol(symbol))
        }
        throw SQLError(.syntax, "unexpected character '\(scalar)'", at: start)
    }

    /// The text between two `quote`s; a doubled quote stands for itself.
    private mutating func quoted(by quote: Unicode.Scalar, start: SourcePosition, what: String) throws(SQLError) -> String {
        advance()
        var text = ""
        while true {
            guard let next = peek() else {
                throw SQLError(.syntax, "a \(what) is never closed with \(quote)", at: start)
            }
            advance()
            if next == quote {
                if peek() == quote {
                    text.unicodeScalars.append(quote)
                    advance()
                    continue
                }
                return text
            }
            text.unicodeScalars.append(next)
        }
    }

    private mutating func number(start: SourcePosition) throws(SQLError) -> TokenKind {
        var text = ""
        var isReal = false
        while let next = peek(), next.isASCIIDigit {
            text.unicodeScalars.append(next)
            advance()
        }
        if peek() == ".", peek(1)?.isASCIIDigit == true || !text.isEmpty {
            isReal = true
            text += "."
            advance()
            while let next = peek(), next.isASCIIDigit {
                text.unicodeScalars.append(next)
                advance()
            }
        }
        if let e = peek(), e == "e" || e == "E" {
            let sign = peek(1)
            let digitAt = (sign == "+" || sign == "-") ? 2 : 1
            if peek(digitAt)?.isASCIIDigit == true {
                isReal = true
                text += "e"
                advance()
                if digitAt == 2 {
                    text.unicodeScalars.append(sign!)
                    advance()
                }
                while let next = peek(), next.isASCIIDigit {
                    text.unicodeScalars.append(next)
                    advance()
                }
            }
        }
        if let next = peek(), next.properties.isAlphabetic || next == "_" {
            throw SQLError(.syntax, "a number runs into a name ('\(text)\(next)…'); put a space between them", at: start, length: text.count + 1)
        }
        // Like SQLite: an integer too large for 64 bits reads as a real number.
        if !isReal, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text) else {
            throw SQLError(.syntax, "'\(text)' is not a number", at: start, length: text.count)
        }
        return .real(value)
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var high: UInt8?
        for scalar in text.unicodeScalars {
            guard let nibble = UInt8(String(scalar), radix: 16) else { return nil }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? bytes : nil
    }
}

extension Unicode.Scalar {
    var isASCIIDigit: Bool { value >= 48 && value <= 57 }
}
