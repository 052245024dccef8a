import Testing
@testable import Aegis

@Suite struct SQLLexerTests {
    @Test func tokensCarryTheirKindAndPosition() throws {
        let tokens = try Lexer.tokenize("SELECT a1, 'it''s', 42, 4.5e2, X'cafe', $2 -- note\n  FROM \"Mixed Case\" /* c */ <= <> ||")
        let kinds = tokens.map(\.kind)
        #expect(kinds == [
            .keyword(.select), .identifier("a1"), .symbol(.comma), .string("it's"), .symbol(.comma), .integer(42),
            .symbol(.comma), .real(450), .symbol(.comma), .blob([0xCA, 0xFE]), .symbol(.comma), .parameter(2),
            .keyword(.from), .quotedIdentifier("Mixed Case"), .symbol(.lessEqual), .symbol(.notEqual), .symbol(.concatenate), .end,
        ])
        let from = tokens.first { $0.kind == .keyword(.from) }!
        #expect(from.position.line == 2 && from.position.column == 3)
    }

    @Test func anIntegerTooLargeForSixtyFourBitsIsReal() throws {
        #expect(try Lexer.tokenize("9223372036854775807")[0].kind == .integer(.max))
        #expect(try Lexer.tokenize("9223372036854775808")[0].kind == .real(9223372036854775808))
    }

    @Test func badTokensAreErrorsWithPositions() {
        let cases: [(String, String, Int)] = [
            ("SELECT 'open", "never closed", 8),
            ("SELECT X'ABC'", "even number of hex digits", 8),
            ("SELECT $0", "parameter", 8),
            ("SELECT 12abc", "runs into a name", 8),
            ("SELECT #", "unexpected character", 8),
            ("SELECT 1 /* open", "never closed", 10),
        ]
        for (source, message, column) in cases {
            do {
                _ = try Lexer.tokenize(source)
                Issue.record("'\(source)' was accepted")
            } catch {
                #expect(error.kind == .syntax)
                #expect(error.message.contains(message), "\(source): \(error.message)")
                #expect(error.position?.column == column, "\(source): \(String(describing: error.position))")
            }
        }
    }
}

@Suite struct SQLParserTests {
    private func expression(_ text: String) throws -> Expression {
        guard case let .select(select) = try Parser.parseOne("SELECT " + text),
              case let .expression(value, _) = select.first.columns[0] else {
            Issue.record("not a single-column select")
            return .literal(.null)
        }
        return value
    }

    private func column(_ name: String) -> Expression {
        .column(table: nil, name: Name(name, at: SourcePosition(offset: 0, line: 1, column: 1)))
    }

    @Test func precedenceFollowsSQLite() throws {
        #expect(try expression("1 + 2 * 3") == .binary(.add, .literal(.integer(1)), .binary(.multiply, .literal(.integer(2)), .literal(.integer(3)))))
        #expect(try expression("a OR b AND c") == .binary(.or, column("a"), .binary(.and, column("b"), column("c"))))
        #expect(try expression("NOT a = b") == .unary(.not, .binary(.equal, column("a"), column("b"))))
        #expect(try expression("a < b = c") == .binary(.equal, .binary(.less, column("a"), column("b")), column("c")))
        #expect(try expression("a || b * c") == .binary(.multiply, .binary(.concatenate, column("a"), column("b")), column("c")))
        #expect(try expression("-9223372036854775808") == .literal(.integer(.min)))
        #expect(try expression("- -1") == .literal(.integer(1)))
        #expect(try expression("a - -b") == .binary(.subtract, column("a"), .unary(.negate, column("b"))))
    }

    @Test func predicatesParse() throws {
        #expect(try expression("a IS NOT NULL") == .isNull(column("a"), negated: true))
        #expect(try expression("a NOT BETWEEN 1 AND 2 AND b") == .binary(.and,
            .between(column("a"), low: .literal(.integer(1)), high: .literal(.integer(2)), negated: true), column("b")))
        #expect(try expression("a IN (1, 2)") == .inList(column("a"), [.literal(.integer(1)), .literal(.integer(2))], negated: false))
        #expect(try expression("a NOT LIKE 'x%' ESCAPE '!'") == .like(column("a"), pattern: .literal(.text("x%")), escape: .literal(.text("!")), negated: true))
        guard case .inSelect(_, _, negated: false) = try expression("a IN (SELECT b FROM t)") else { Issue.record("IN (SELECT)"); return }
        guard case .exists(_, negated: true) = try expression("NOT EXISTS (SELECT 1)") else { Issue.record("NOT EXISTS"); return }
        guard case .subquery = try expression("(SELECT max(x) FROM t)") else { Issue.record("scalar subquery"); return }
        #expect(try expression("CAST(a AS BIGINT)") == .cast(column("a"), .bigint))
        #expect(try expression("count(*)") == .function(name: Name("count", at: SourcePosition(offset: 0, line: 1, column: 1)), arguments: [], distinct: false, star: true))
        guard case .function(_, _, distinct: true, star: false) = try expression("sum(DISTINCT x)") else { Issue.record("DISTINCT aggregate"); return }
        guard case let .caseWhen(base, branches, otherwise) = try expression("CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END") else { Issue.record("CASE"); return }
        #expect(base == nil && branches.count == 2 && otherwise == .literal(.integer(3)))
        #expect(try expression("t.a") == .column(table: Name("t", at: SourcePosition(offset: 0, line: 1, column: 1)), name: Name("a", at: SourcePosition(offset: 0, line: 1, column: 1))))
    }

    @Test func everyStatementKindParses() throws {
        let sources = [
            "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE, balance DECIMAL(10, 2) DEFAULT 0 CHECK (balance >= 0), opened DATE, active BOOLEAN DEFAULT TRUE, photo BLOB, seen TIMESTAMP, score DOUBLE PRECISION, big BIGINT, ratio REAL, note TEXT)",
            "CREATE TABLE pairs (a INT, b INT, PRIMARY KEY (a, b), UNIQUE (b), CHECK (a < b))",
            "DROP TABLE IF EXISTS accounts",
            "ALTER TABLE accounts ADD COLUMN email TEXT",
            "ALTER TABLE accounts DROP COLUMN email",
            "ALTER TABLE accounts RENAME COLUMN name TO owner",
            "ALTER TABLE accounts RENAME TO ledgers",
            "CREATE UNIQUE INDEX IF NOT EXISTS by_name ON accounts (name, id)",
            "DROP INDEX by_name",
            "INSERT INTO accounts (id, name) VALUES (1, 'a'), (2, 'b') ON CONFLICT (id) DO UPDATE SET name = 'c' WHERE id > 0",
            "INSERT INTO accounts SELECT * FROM old ON CONFLICT DO NOTHING",
            "UPDATE accounts SET balance = balance - 10, name = upper(name) WHERE id = $1",
            "DELETE FROM accounts WHERE balance IS NULL",
            "WITH rich (id) AS (SELECT id FROM accounts WHERE balance > 100) SELECT DISTINCT a.name, r.id AS rid FROM accounts a INNER JOIN rich r ON a.id = r.id LEFT OUTER JOIN x USING (id) RIGHT JOIN y ON TRUE FULL JOIN z ON 1 = 1 CROSS JOIN w, v WHERE a.id IN (1, 2) GROUP BY a.name, r.id HAVING count(*) > 1 ORDER BY 1 DESC NULLS LAST, a.name LIMIT 10 OFFSET 5",
            "SELECT a FROM t UNION SELECT b FROM u UNION ALL SELECT c FROM v INTERSECT SELECT d FROM w EXCEPT SELECT e FROM x",
            "SELECT * FROM (SELECT 1 AS one) AS d",
            "SELECT t.* FROM t",
            "VALUES (1, 2), (3, 4)",
            "EXPLAIN SELECT * FROM t WHERE a = 1",
            "BEGIN", "BEGIN TRANSACTION", "COMMIT", "END", "ROLLBACK",
        ]
        for source in sources {
            do {
                _ = try Parser.parseOne(source)
            } catch {
                Issue.record("\(source)\n\(error.rendered(in: source))")
            }
        }
        #expect(try Parser.parse("BEGIN; UPDATE t SET a = 1; COMMIT;").count == 3)
        guard case let .createTable(_, _, columns, _) = try Parser.parseOne(sources[0]) else { Issue.record("create"); return }
        #expect(columns[0].primaryKey && columns[1].notNull && columns[1].unique && columns[2].check != nil)
        guard case let .select(query) = try Parser.parseOne(sources[13]) else { Issue.record("select"); return }
        #expect(query.with.count == 1 && query.first.distinct && query.orderBy[0].direction == .descending && query.orderBy[0].nulls == .last)
    }

    @Test func errorsPointAtTheOffendingToken() {
        let cases: [(String, String, Int, Int)] = [
            ("SELECT a FROM", "expected a table name, found the end of the statement", 1, 14),
            ("SELECT a FORM t", "expected ';' or the end of the statement, found 't'", 1, 15),
            ("SELECT *\nFROM t\nWHERE a = = 1", "expected an expression, found '='", 3, 11),
            ("CREATE TABLE select (a INT)", "quote it", 1, 14),
            ("CREATE TABLE t (a COLOUR)", "unknown type 'colour'", 1, 19),
            ("SELECT * FROM t JOIN u", "expected ON or USING after INNER JOIN", 1, 23),
            ("INSERT INTO t VALUES (1, 2", "expected ',' or ')' in a row of values", 1, 27),
            ("SELEC 1", "expected a statement", 1, 1),
            ("SELECT CASE END", "expected an expression, found END", 1, 13),
        ]
        for (source, message, line, column) in cases {
            do {
                _ = try Parser.parse(source)
                Issue.record("'\(source)' was accepted")
            } catch {
                #expect(error.message.contains(message), "\(source): \(error.message)")
                #expect(error.position?.line == line && error.position?.column == column, "\(source): \(String(describing: error.position))")
            }
        }
        let source = "SELECT a FROM t WHERE b = = 2"
        do {
            _ = try Parser.parse(source)
        } catch {
            #expect(error.rendered(in: source) == """
                syntax error at line 1, column 27: expected an expression, found '='
                  SELECT a FROM t WHERE b = = 2
                                            ^
                """)
        }
    }

    @Test func deepNestingIsALimitNotACrash() {
        let deep = "SELECT " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        #expect { try Parser.parse(deep) } throws: { ($0 as? SQLError)?.kind == .limit }
        let notChain = "SELECT " + String(repeating: "NOT ", count: 5000) + "1"
        #expect { try Parser.parse(notChain) } throws: { ($0 as? SQLError)?.kind == .limit }
        let negations = "SELECT " + String(repeating: "- ", count: 5000) + "1"
        #expect { try Parser.parse(negations) } throws: { ($0 as? SQLError)?.kind == .limit }
    }

    /// Printing a tree and parsing the text gives the same tree: for every statement
    /// above, and for each statement the fuzzer below happens to make valid.
    @Test func printedStatementsParseBackToTheSameTree() throws {
        var sources = [
            "CREATE TABLE IF NOT EXISTS \"Accounts\" (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE, balance DECIMAL DEFAULT -1.5 CHECK (balance >= 0), flag BOOLEAN DEFAULT TRUE, \"select\" TEXT)",
            "CREATE TABLE pairs (a INT, b INT, PRIMARY KEY (a, b), UNIQUE (b), CHECK (a < b))",
            "ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE t ADD c BLOB", "DROP INDEX IF EXISTS i",
            "CREATE UNIQUE INDEX i ON t (a, b)",
            "INSERT INTO t (a, b) VALUES (1, 'it''s'), (-2, X'00FF') ON CONFLICT (a) DO UPDATE SET b = 'x' WHERE a > 0",
            "INSERT INTO t SELECT * FROM u ON CONFLICT DO NOTHING",
            "UPDATE t SET a = a + 1, b = -b WHERE c NOT LIKE 'x!%' ESCAPE '!'",
            "DELETE FROM t WHERE a IS NOT NULL AND b NOT BETWEEN 1 AND 2.5e10",
            "WITH r (x) AS (SELECT 1) SELECT DISTINCT t.*, count(DISTINCT a) AS n, CAST(b AS REAL), CASE a WHEN 1 THEN 'one' ELSE NULL END FROM t AS t1 LEFT JOIN u USING (id) CROSS JOIN v, (SELECT 1 AS one) AS d WHERE a IN (SELECT x FROM r) AND NOT EXISTS (SELECT 1) GROUP BY a HAVING count(*) > 1 UNION ALL SELECT 1, 2, 3, 4, 5 FROM w ORDER BY 1 DESC NULLS FIRST LIMIT 10 OFFSET $1",
            "VALUES (1, 2), (3, -9223372036854775808)", "EXPLAIN SELECT +a, -(a), 1.0, 0.5, 1e300 FROM t", "BEGIN", "COMMIT", "ROLLBACK",
        ]
        let random = TestEntropy(seed: 7)
        let pieces = ["(", ")", ",", "NOT", "1", "a", "+", "-", "*", "'x'", "AND", "OR", "IS NULL", "IN (1)", "LIKE 'a'"]
        for _ in 0..<3000 {
            var words = sources[Int(random.uniform(below: UInt64(sources.count)))].split(separator: " ").map(String.init)
            let at = Int(random.uniform(below: UInt64(words.count + 1)))
            words.insert(pieces[Int(random.uniform(below: UInt64(pieces.count)))], at: at)
            let candidate = words.joined(separator: " ")
            if (try? Parser.parse(candidate)) != nil { sources.append(candidate) }
        }
        for source in sources {
            for statement in try Parser.parse(source) {
                let printed = SQLPrinter.print(statement)
                let reparsed: [Statement]
                do {
                    reparsed = try Parser.parse(printed)
                } catch {
                    Issue.record("\(source)\nprinted as \(printed)\nwhich does not parse: \(error)")
                    continue
                }
                #expect(reparsed == [statement], "\(source)\nprinted as \(printed)")
            }
        }
    }

    /// A seeded fuzzer: valid statements cut, spliced and sprinkled with tokens and
    /// bytes. Every input must parse or throw a SQLError; a crash fails the run.
    @Test func noInputCrashesTheParser() {
        let seeds = [
            "SELECT a, count(*) FROM t LEFT JOIN u ON t.id = u.id WHERE a IN (SELECT b FROM v) GROUP BY a HAVING sum(x) > 1 ORDER BY a DESC NULLS FIRST LIMIT 3",
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, NULL) ON CONFLICT (a) DO UPDATE SET b = 'y'",
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL DEFAULT 'z' CHECK (length(b) < 9))",
            "WITH c AS (SELECT 1) SELECT CASE WHEN x BETWEEN 1 AND 2 THEN CAST(x AS TEXT) ELSE 'no' END FROM c",
        ]
        let pieces = ["(", ")", ",", "'", "\"", "SELECT", "FROM", "WHERE", "NOT", "IN", "CASE", "END", "--", "/*", "$1", "X'", "1e", ".", "*", "||", "\n", "é", "\u{0}"]
        let random = TestEntropy(seed: 2026)
        var accepted = 0
        for _ in 0..<20_000 {
            var text = Array(seeds[Int(random.uniform(below: UInt64(seeds.count)))].unicodeScalars)
            for _ in 0...random.uniform(below: 4) {
                let at = Int(random.uniform(below: UInt64(text.count + 1)))
                switch random.uniform(below: 4) {
                case 0: text.removeSubrange(at..<min(text.count, at + Int(random.uniform(below: 8))))
                case 1: text.insert(contentsOf: pieces[Int(random.uniform(below: UInt64(pieces.count)))].unicodeScalars, at: at)
                case 2: text.insert(Unicode.Scalar(UInt8(truncatingIfNeeded: random.nextUInt64() % 128)), at: at)
                default: text = Array(text.prefix(at))
                }
            }
            var string = ""
            string.unicodeScalars.append(contentsOf: text)
            if (try? Parser.parse(string)) != nil { accepted += 1 }
        }
        #expect(accepted > 0, "the fuzzer never produced valid SQL; it exercises only the error paths")
    }
}
