/// Syntax trees back to SQL text: canonical (keywords in capitals, every operation in
/// parentheses), so that parsing the printed text gives the same tree. The catalog
/// stores DEFAULT and CHECK expressions this way, and EXPLAIN prints with it.
public enum SQLPrinter {
    public static func print(_ statement: Statement) -> String {
        switch statement {
        case let .createTable(name, ifNotExists, columns, constraints):
            var parts = columns.map(column)
            for constraint in constraints {
                switch constraint {
                case let .primaryKey(names): parts.append("PRIMARY KEY (" + list(names) + ")")
                case let .hashPartitioned(buckets): parts[parts.count - 1] += " USING HASH WITH (bucket_count = \(buckets))"
                case let .unique(names): parts.append("UNIQUE (" + list(names) + ")")
                case let .check(expression): parts.append("CHECK (" + print(expression) + ")")
                }
            }
            return "CREATE TABLE " + (ifNotExists ? "IF NOT EXISTS " : "") + quote(name) + " (" + parts.joined(separator: ", ") + ")"
        case let .dropTable(name, ifExists):
            return "DROP TABLE " + (ifExists ? "IF EXISTS " : "") + quote(name)
        case let .alterTable(name, action):
            let head = "ALTER TABLE " + quote(name) + " "
            switch action {
            case let .addColumn(definition): return head + "ADD COLUMN " + column(definition)
            case let .dropColumn(target): return head + "DROP COLUMN " + quote(target)
            case let .renameColumn(old, new): return head + "RENAME COLUMN " + quote(old) + " TO " + quote(new)
            case let .renameTable(new): return head + "RENAME TO " + quote(new)
            }
        case let .createIndex(name, table, columns, unique, ifNotExists):
            return "CREATE " + (unique ? "UNIQUE " : "") + "INDEX " + (ifNotExists ? "IF NOT EXISTS " : "") + quote(name)
                + " ON " + quote(table) + " (" + list(columns) + ")"
        case let .dropIndex(name, ifExists):
            return "DROP INDEX " + (ifExists ? "IF EXISTS " : "") + quote(name)
        case let .insert(table, columns, source, onConflict):
            var text = "INSERT INTO " + quote(table)
            if !columns.isEmpty { text += " (" + list(columns) + ")" }
            switch source {
            case let .values(rows): text += " VALUES " + rows.map { "(" + $0.map(print).joined(separator: ", ") + ")" }.joined(separator: ", ")
            case let .select(query): text += " " + print(query)
            }
            if let onConflict {
                text += " ON CONFLICT"
                if !onConflict.columns.isEmpty { text += " (" + list(onConflict.columns) + ")" }
                switch onConflict.action {
                case .doNothing: text += " DO NOTHING"
                case let .doUpdate(assignments, filter):
                    text += " DO UPDATE SET " + assignments.map { quote($0.column) + " = " + print($0.value) }.joined(separator: ", ")
                    if let filter { text += " WHERE " + print(filter) }
                }
            }
            return text
        case let .update(table, assignments, filter):
            return "UPDATE " + quote(table) + " SET " + assignments.map { quote($0.column) + " = " + print($0.value) }.joined(separator: ", ")
                + (filter.map { " WHERE " + print($0) } ?? "")
        case let .delete(table, filter):
            return "DELETE FROM " + quote(table) + (filter.map { " WHERE " + print($0) } ?? "")
        case let .select(query):
            return print(query)
        case let .explain(inner):
            return "EXPLAIN " + print(inner)
        case .begin: return "BEGIN"
        case .commit: return "COMMIT"
        case .rollback: return "ROLLBACK"
        }
    }

    public static func print(_ select: Select) -> String {
        var text = ""
        if !select.with.isEmpty {
            text += "WITH " + select.with.map { cte in
                quote(cte.name) + (cte.columns.isEmpty ? "" : " (" + list(cte.columns) + ")") + " AS (" + print(cte.select) + ")"
            }.joined(separator: ", ") + " "
        }
        text += core(select.first)
        for (op, next) in select.compounds { text += " " + op.rawValue + " " + core(next) }
        if !select.orderBy.isEmpty {
            text += " ORDER BY " + select.orderBy.map { term in
                print(term.expression) + (term.direction == .descending ? " DESC" : "")
                    + (term.nulls.map { $0 == .first ? " NULLS FIRST" : " NULLS LAST" } ?? "")
            }.joined(separator: ", ")
        }
        if let limit = select.limit { text += " LIMIT " + print(limit) }
        if let offset = select.offset {
            if select.limit == nil { text += " LIMIT -1" }
            text += " OFFSET " + print(offset)
        }
        return text
    }

    static func core(_ core: SelectCore) -> String {
        if let values = core.values {
            return "VALUES " + values.map { "(" + $0.map(print).joined(separator: ", ") + ")" }.joined(separator: ", ")
        }
        var text = "SELECT " + (core.distinct ? "DISTINCT " : "")
        text += core.columns.map { column -> String in
            switch column {
            case .all: return "*"
            case let .allOf(table): return quote(table) + ".*"
            case let .expression(expression, alias): return print(expression) + (alias.map { " AS " + quote($0) } ?? "")
            }
        }.joined(separator: ", ")
        if let from = core.from { text += " FROM " + table(from) }
        if let filter = core.filter { text += " WHERE " + print(filter) }
        if !core.groupBy.isEmpty { text += " GROUP BY " + core.groupBy.map(print).joined(separator: ", ") }
        if let having = core.having { text += " HAVING " + print(having) }
        return text
    }

    static func table(_ reference: TableReference) -> String {
        switch reference {
        case let .table(name, alias): return quote(name) + (alias.map { " AS " + quote($0) } ?? "")
        case let .subquery(query, alias): return "(" + print(query) + ")" + (alias.map { " AS " + quote($0) } ?? "")
        case let .join(left, kind, right, constraint):
            var text = "(" + table(left) + " " + kind.rawValue + " JOIN " + table(right)
            switch constraint {
            case .none: break
            case let .on(expression): text += " ON " + print(expression)
            case let .using(names): text += " USING (" + list(names) + ")"
            }
            return text + ")"
        }
    }

    public static func print(_ expression: Expression) -> String {
        switch expression {
        case let .literal(literal):
            switch literal {
            case .null: return "NULL"
            case let .integer(value): return value == .min ? "(-9223372036854775808)" : (value < 0 ? "(\(value))" : String(value))
            case let .real(value): return realLiteral(value)
            case let .text(text): return "'" + text.replacingAll("'", with: "''") + "'"
            case let .blob(bytes):
                let digits = Array("0123456789ABCDEF")
                return "X'" + String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }) + "'"
            case let .boolean(flag): return flag ? "TRUE" : "FALSE"
            }
        case let .parameter(number, _): return "$\(number)"
        case let .column(table, name): return (table.map { quote($0) + "." } ?? "") + quote(name)
        // Bound forms only appear in EXPLAIN output, which names columns itself.
        case let .slot(depth, index, _): return depth == 0 ? "#\(index)" : "#\(depth).\(index)"
        case let .subplan(id, use, operand, negated):
            switch use {
            case .scalar: return "(subquery \(id))"
            case .exists: return (negated ? "NOT " : "") + "EXISTS (subquery \(id))"
            case .membership: return "(" + (operand.map(print) ?? "NULL") + (negated ? " NOT IN" : " IN") + " (subquery \(id)))"
            }
        case let .unary(op, operand):
            return op == .not ? "(NOT " + print(operand) + ")" : "(" + op.rawValue + print(operand) + ")"
        case let .binary(op, left, right): return "(" + print(left) + " " + op.rawValue + " " + print(right) + ")"
        case let .isNull(operand, negated): return "(" + print(operand) + (negated ? " IS NOT NULL)" : " IS NULL)")
        case let .between(operand, low, high, negated):
            return "(" + print(operand) + (negated ? " NOT" : "") + " BETWEEN " + print(low) + " AND " + print(high) + ")"
        case let .inList(operand, list, negated):
            return "(" + print(operand) + (negated ? " NOT" : "") + " IN (" + list.map(print).joined(separator: ", ") + "))"
        case let .inSelect(operand, query, negated):
            return "(" + print(operand) + (negated ? " NOT" : "") + " IN (" + print(query) + "))"
        case let .like(operand, pattern, escape, negated):
            return "(" + print(operand) + (negated ? " NOT" : "") + " LIKE " + print(pattern) + (escape.map { " ESCAPE " + print($0) } ?? "") + ")"
        case let .exists(query, negated): return "(" + (negated ? "NOT " : "") + "EXISTS (" + print(query) + "))"
        case let .subquery(query): return "(" + print(query) + ")"
        case let .function(name, arguments, distinct, star):
            let callee = name.quoted ? name.text : name.text.lowercased()
            if star { return callee + "(*)" }
            return callee + "(" + (distinct ? "DISTINCT " : "") + arguments.map(print).joined(separator: ", ") + ")"
        case let .cast(operand, type): return "CAST(" + print(operand) + " AS " + type.rawValue.uppercased() + ")"
        case let .caseWhen(base, branches, otherwise):
            var text = "CASE"
            if let base { text += " " + print(base) }
            for branch in branches { text += " WHEN " + print(branch.when) + " THEN " + print(branch.then) }
            if let otherwise { text += " ELSE " + print(otherwise) }
            return text + " END"
        }
    }

    /// A REAL that reads back as the same double and as a REAL (never as an integer).
    static func realLiteral(_ value: Double) -> String {
        if value.isNaN { return "NULL" }
        if value.isInfinite { return value > 0 ? "1e999" : "(-1e999)" }
        var text = String(abs(value))
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        if text.contains("e"), !text.contains(".") {
            text = text.replacingAll("e", with: ".0e")
        }
        return value.sign == .minus ? "(-" + text + ")" : text
    }

    static func quote(_ name: Name) -> String {
        let text = name.quoted ? name.text : name.text.lowercased()
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic && $0.isASCII && $0.properties.isLowercase) || $0 == "_" || ($0.value >= 48 && $0.value <= 57) }
            && !(text.first!.isNumber) && Keyword.byName[text] == nil
        return plain ? text : "\"" + text.replacingAll("\"", with: "\"\"") + "\""
    }

    /// A stored (normalized) name as SQL that reads back as the same name.
    public static func quoteName(_ name: String) -> String {
        quote(Name(name, quoted: true, at: SourcePosition(offset: 0, line: 1, column: 1)))
    }

    static func list(_ names: [Name]) -> String { names.map(quote).joined(separator: ", ") }

    static func column(_ definition: ColumnDefinition) -> String {
        var text = quote(definition.name) + " " + definition.type.rawValue.uppercased()
        if definition.primaryKey { text += " PRIMARY KEY" }
        if let buckets = definition.hashBuckets { text += " USING HASH WITH (bucket_count = \(buckets))" }
        if definition.notNull { text += " NOT NULL" }
        if definition.unique { text += " UNIQUE" }
        if let value = definition.defaultValue { text += " DEFAULT (" + print(value) + ")" }
        if let check = definition.check { text += " CHECK (" + print(check) + ")" }
        return text
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        ScalarFunctions.replaceAll(self, target, replacement)
    }
}
