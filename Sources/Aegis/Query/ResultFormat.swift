/// A result as people and programs read it: JSON (the REST shape), CSV, and an aligned
/// text table. Values print as SQLite prints them; blobs as hex in JSON and CSV.
extension SQLValue {
    /// NULL is null, numbers are numbers (a REAL that JSON cannot hold is null), text
    /// is a string, a blob is a string of hex digits.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case let .integer(number): return String(number)
        case let .real(number): return number.isFinite ? SQLValue.format(number) : "null"
        case let .text(text): return JSONString.quote(text)
        case let .blob(bytes): return JSONString.quote(SQLValue.hex(bytes))
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    /// As a CSV field: quoted when it holds a comma, quote or line break; NULL empty.
    public var csvField: String {
        let text: String
        switch self {
        case .null: return ""
        case let .blob(bytes): text = SQLValue.hex(bytes)
        default: text = description
        }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}

extension QueryResult {
    /// `{"columns":[…],"rows":[[…]],"rows_affected":n}`.
    public var jsonText: String {
        "{\"columns\":[" + columns.map(JSONString.quote).joined(separator: ",") + "],\"rows\":["
            + rows.map { "[" + $0.map(\.jsonText).joined(separator: ",") + "]" }.joined(separator: ",")
            + "],\"rows_affected\":\(rowsAffected)}"
    }

    public var csvText: String {
        guard !columns.isEmpty else { return "" }
        var lines = [columns.map { SQLValue.text($0).csvField }.joined(separator: ",")]
        for row in rows { lines.append(row.map(\.csvField).joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Columns padded to their widest value, a rule under the header, NULL shown as
    /// NULL; a statement without columns says how many rows it changed.
    public var tableText: String {
        guard !columns.isEmpty else { return "(\(rowsAffected) row\(rowsAffected == 1 ? "" : "s") affected)\n" }
        let cells = rows.map { $0.map { $0.isNull ? "NULL" : ($0.typeName == "blob" ? "X'" + SQLValue.hex($0.blobBytes) + "'" : $0.description) } }
        var widths = columns.map(\.count)
        for row in cells { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
        func line(_ values: [String]) -> String {
            var text = ""
            for (index, value) in values.enumerated() {
                if index > 0 { text += " | " }
                text += value + (index == values.count - 1 ? "" : String(repeating: " ", count: widths[index] - value.count))
            }
            return text
        }
        var lines = [line(columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-")]
        for row in cells { lines.append(line(row)) }
        lines.append("(\(rows.count) row\(rows.count == 1 ? "" : "s"))")
        return lines.joined(separator: "\n") + "\n"
    }
}

extension SQLValue {
    var blobBytes: [UInt8] { if case let .blob(bytes) = self { return bytes } else { return [] } }
}
