import Foundation
import Testing
@testable import Aegis

/// Whole statements against SQLite: a seeded generator makes a schema (with indexes),
/// data with NULLs and duplicates, and a stream of queries (filters, joins of every
/// kind, aggregates, GROUP BY/HAVING, subqueries, compounds, DISTINCT, ORDER BY/LIMIT)
/// mixed with UPDATEs and DELETEs. Both engines run the same stream; every answer must
/// agree. Rows compare as multisets unless the ORDER BY makes the order total; REALs
/// compare to 1e-9 relative (sums may add in a different order).
///
/// Within the common subset: types INTEGER, REAL, TEXT; integer primary keys. Where
/// SQLite's answers depend on its legacy quirks (NULL primary keys, rowid), the
/// generator does not go.
///
/// SQL_DIFFERENTIAL_QUERIES (default 1500) and SQL_DIFFERENTIAL_SEED change the run.
@Suite struct SQLDifferentialTests {
    static let sqliteScript = """
        import json, sqlite3, sys
        c = sqlite3.connect(':memory:', isolation_level=None)
        def show(v):
            if v is None: return 'null|'
            if isinstance(v, int): return 'integer|%d' % v
            if isinstance(v, float): return 'real|' + ('%.17g' % v)
            if isinstance(v, bytes): return 'blob|' + v.hex()
            return 'text|' + v
        for line in sys.stdin:
            e = json.loads(line)
            try:
                rows = c.execute(e).fetchall()
                print(json.dumps([[show(v) for v in r] for r in rows]))
            except Exception as x:
                print(json.dumps('error'))
        """

    static func show(_ value: SQLValue) -> String {
        switch value {
        case .null: return "null|"
        case let .integer(number): return "integer|\(number)"
        case let .real(number): return "real|" + String(format: "%.17g", number)
        case let .text(text): return "text|" + text
        case let .blob(bytes): return "blob|" + bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func same(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard a.hasPrefix("real|"), b.hasPrefix("real|"), let x = Double(a.dropFirst(5)), let y = Double(b.dropFirst(5)) else { return false }
        return abs(x - y) <= 1e-9 * max(1, abs(x), abs(y))
    }

    struct Generator {
        let random: TestEntropy
        func pick<T>(_ items: [T]) -> T { items[Int(random.uniform(below: UInt64(items.count)))] }
        func number(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.uniform(below: UInt64(range.count))) }
        func chance(_ percent: Int) -> Bool { number(1...100) <= percent }

        let t1Columns = ["id", "a", "b", "c"]
        let t2Columns = ["id", "t1_id", "d", "e"]
        let words = ["ant", "bee", "cat", "dog", "eel", "Fox", "", "bee "]

        func setup() -> [String] {
            var statements = [
                "CREATE TABLE t1 (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL)",
                "CREATE TABLE t2 (id INTEGER PRIMARY KEY, t1_id INTEGER, d INTEGER, e TEXT)",
                "CREATE TABLE t3 (x INTEGER, y TEXT)",
            ]
            if chance(70) { statements.append("CREATE INDEX t1_a ON t1 (a)") }
            if chance(70) { statements.append("CREATE INDEX t2_t1 ON t2 (t1_id)") }
            if chance(50) { statements.append("CREATE INDEX t1_ba ON t1 (b, a)") }
            for id in 1...120 {
                statements.append("INSERT INTO t1 VALUES (\(id), \(maybe(String(number(-5...20)))), \(maybe(quote(pick(words)))), \(maybe(real())))")
            }
            for id in 1...160 {
                statements.append("INSERT INTO t2 VALUES (\(id), \(maybe(String(number(1...130)))), \(maybe(String(number(0...9)))), \(maybe(quote(pick(words)))))")
            }
            for _ in 1...40 { statements.append("INSERT INTO t3 VALUES (\(maybe(String(number(0...15)))), \(maybe(quote(pick(words)))))") }
            return statements
        }

        func maybe(_ text: String) -> String { chance(12) ? "NULL" : text }
        func quote(_ text: String) -> String { "'" + text + "'" }
        func real() -> String { String(format: "%.2f", Double(number(-500...2000)) / 100) }

        /// A literal of the column's type, or now and then another type (a number as
        /// text, text against a number), so affinity conversions are exercised.
        func literal(for column: String) -> String {
            if chance(12) {
                return pick(["'\(number(-3...25))'", "'\(real())'", String(number(-3...25)), real(), "'x'", "' 7'"])
            }
            switch column {
            case "b", "e", "y": return quote(pick(words))
            case "c": return real()
            default: return String(number(-3...25))
            }
        }

        func predicate(_ table: String, _ columns: [String], depth: Int = 0) -> String {
            let column = pick(columns)
            let reference = "\(table).\(column)"
            if depth < 2 && chance(30) {
                let op = pick(["AND", "OR"])
                return "(" + predicate(table, columns, depth: depth + 1) + " \(op) " + predicate(table, columns, depth: depth + 1) + ")"
            }
            if depth < 2 && chance(8) { return "NOT " + predicate(table, columns, depth: depth + 1) }
            switch number(0...9) {
            case 0: return "\(reference) IS \(pick(["", "NOT "]))NULL"
            case 1: return "\(reference) BETWEEN \(literal(for: column)) AND \(literal(for: column))"
            case 2: return "\(reference) \(pick(["", "NOT "]))IN (\(literal(for: column)), \(literal(for: column)), \(literal(for: column)))"
            case 3 where ["b", "e", "y"].contains(column): return "\(reference) LIKE '\(pick(["%e%", "b_e", "_o%", "%"]))'"
            case 4: return "\(reference) + 1 > \(literal(for: column))"
            default: return "\(reference) \(pick(["=", "<>", "<", "<=", ">", ">="])) \(literal(for: column))"
            }
        }

        /// A query, and whether its ORDER BY fixes the order of every row.
        func query() -> (String, ordered: Bool) {
            switch number(0...11) {
            case 0, 1:
                let columns = (0..<number(1...3)).map { _ in "t1." + pick(t1Columns) }.joined(separator: ", ")
                let ordered = chance(40)
                return ("SELECT \(columns) FROM t1 WHERE \(predicate("t1", t1Columns))" + (ordered ? " ORDER BY t1.id DESC LIMIT \(number(1...30))" : ""), ordered)
            case 2:
                let kind = pick(["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"])
                let on = pick(["t2.t1_id = t1.id", "t2.d = t1.a", "t2.t1_id = t1.id AND " + predicate("t2", t2Columns)])
                return ("SELECT t1.id, t1.\(pick(t1Columns)), t2.id, t2.\(pick(t2Columns)) FROM t1 \(kind) t2 ON \(on) WHERE \(pick(["1", predicate("t1", t1Columns)]))", false)
            case 3:
                let group = pick(["a", "b"])
                let aggregate = pick(["count(*)", "count(c)", "sum(a)", "avg(c)", "min(b)", "max(c)", "total(a)", "count(DISTINCT a)", "sum(DISTINCT a)"])
                let having = chance(40) ? " HAVING count(*) > \(number(0...3))" : ""
                return ("SELECT \(group), \(aggregate) FROM t1 WHERE \(predicate("t1", t1Columns)) GROUP BY \(group)\(having)", false)
            case 4:
                return ("SELECT t1.id FROM t1 WHERE t1.a \(pick(["", "NOT "]))IN (SELECT t2.d FROM t2 WHERE \(predicate("t2", t2Columns)))", false)
            case 5:
                return ("SELECT t1.id, t1.b FROM t1 WHERE \(pick(["", "NOT "]))EXISTS (SELECT 1 FROM t2 WHERE t2.t1_id = t1.id AND \(predicate("t2", t2Columns)))", false)
            case 6:
                return ("SELECT t1.id, (SELECT count(*) FROM t2 WHERE t2.t1_id = t1.id), (SELECT max(t2.d) FROM t2 WHERE t2.t1_id = t1.id) FROM t1 WHERE \(predicate("t1", t1Columns))", false)
            case 7:
                let op = pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"])
                return ("SELECT a FROM t1 WHERE \(predicate("t1", t1Columns)) \(op) SELECT d FROM t2 WHERE \(predicate("t2", t2Columns))", false)
            case 8:
                return ("SELECT DISTINCT \(pick(["a", "b", "a, b", "c"])) FROM t1 WHERE \(predicate("t1", t1Columns))", false)
            case 9:
                return ("SELECT t3.x, t3.y, t1.id FROM t3 JOIN t1 ON t1.a = t3.x WHERE \(predicate("t3", ["x", "y"]))", false)
            case 10:
                return ("SELECT count(*), sum(t2.d), t1.b FROM t1 JOIN t2 ON t2.t1_id = t1.id GROUP BY t1.b", false)
            default:
                return ("SELECT s.a, s.n FROM (SELECT a, count(*) AS n FROM t1 WHERE \(predicate("t1", t1Columns)) GROUP BY a) AS s WHERE s.n > 1", false)
            }
        }

        func change() -> String {
            switch number(0...3) {
            case 0: return "UPDATE t1 SET a = a + \(number(-2...2)), c = c * 2 WHERE \(predicate("t1", t1Columns))"
            case 1: return "DELETE FROM t2 WHERE \(predicate("t2", t2Columns))"
            case 2: return "INSERT INTO t3 VALUES (\(maybe(String(number(0...15)))), \(maybe(quote(pick(words)))))"
            default: return "UPDATE t2 SET e = \(quote(pick(words))) WHERE \(predicate("t2", t2Columns))"
            }
        }
    }

    @Test func queriesAgreeWithSQLite() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["SQL_DIFFERENTIAL_QUERIES"].flatMap { Int($0) } ?? 1500
        let seed = environment["SQL_DIFFERENTIAL_SEED"].flatMap { UInt64($0) } ?? 77
        let generator = Generator(random: TestEntropy(seed: seed))
        let setup = generator.setup()
        var statements: [(String, ordered: Bool?)] = setup.map { ($0, nil) }
        for _ in 0..<count {
            if generator.chance(10) { statements.append((generator.change(), nil)) } else {
                let (query, ordered) = generator.query()
                statements.append((query, ordered))
            }
        }
        let answers = try SQLiteOracle.answers(script: SQLDifferentialTests.sqliteScript, inputs: statements.map(\.0))
        try #require(answers.count >= statements.count, "python3 with sqlite3 did not answer every statement")

        let session = SQLDatabase(store: MVCCStore(backend: MemoryBackend())).session()
        var disagreements: [String] = []
        var compared = 0
        var nonEmpty = 0
        for (index, (sql, ordered)) in statements.enumerated() {
            let theirs = try JSONSerialization.jsonObject(with: Data(answers[index].utf8), options: [.fragmentsAllowed])
            let (results, error) = session.executeAll(sql)
            if index < setup.count {
                #expect(error == nil && theirs is [[String]], "the setup statement \(sql) failed: \(String(describing: error))")
            }
            if let theirRows = theirs as? [[String]] {
                guard error == nil, let ours = results.last else {
                    disagreements.append("\(sql)\n    aegis: \(error.map(String.init(describing:)) ?? "no result")\n    sqlite: \(theirRows.count) rows")
                    continue
                }
                guard ordered != nil else { continue }
                compared += 1
                if !theirRows.isEmpty { nonEmpty += 1 }
                var mine = ours.rows.map { $0.map(SQLDifferentialTests.show) }
                var other = theirRows
                if ordered == false {
                    mine.sort { $0.lexicographicallyPrecedes($1) }
                    other.sort { $0.lexicographicallyPrecedes($1) }
                }
                let agree = mine.count == other.count && zip(mine, other).allSatisfy { a, b in a.count == b.count && zip(a, b).allSatisfy(SQLDifferentialTests.same) }
                if !agree {
                    let first = Array(zip(mine, other)).firstIndex { a, b in !(a.count == b.count && zip(a, b).allSatisfy(SQLDifferentialTests.same)) } ?? min(mine.count, other.count)
                    disagreements.append("\(sql)\n    aegis: \(mine.count) rows, row \(first): \(mine.dropFirst(first).prefix(2))\n    sqlite: \(other.count) rows, row \(first): \(other.dropFirst(first).prefix(2))")
                }
            } else if error == nil {
                disagreements.append("\(sql)\n    aegis: succeeded\n    sqlite: error")
            }
        }
        #expect(compared > count / 2)
        #expect(nonEmpty > compared / 3, "only \(nonEmpty) of \(compared) queries returned rows: the generator is too narrow")
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(statements.count) statements disagree, e.g.\n\(disagreements.prefix(6).joined(separator: "\n"))")
    }
}
