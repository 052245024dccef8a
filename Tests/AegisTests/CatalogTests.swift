import Testing
@testable import Aegis

@Suite struct CatalogTests {
    private func apply(_ catalog: inout Catalog, _ sql: String) throws(SQLError) {
        for statement in try Parser.parse(sql) { try catalog.apply(statement) }
    }

    private func error(_ catalog: Catalog, _ sql: String) -> String {
        var copy = catalog
        do {
            try apply(&copy, sql)
            return "accepted"
        } catch {
            #expect(copy == catalog, "a failed statement changed the catalog: \(sql)")
            return error.message
        }
    }

    @Test func ddlBuildsTheSchema() throws {
        var catalog = Catalog()
        try apply(&catalog, """
            CREATE TABLE Accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL UNIQUE, balance DECIMAL DEFAULT 0 CHECK (balance >= 0), note TEXT);
            CREATE TABLE pairs (a INT, b INT, PRIMARY KEY (a, b), CHECK (a < b));
            CREATE INDEX by_note ON accounts (note, balance);
            ALTER TABLE accounts ADD COLUMN opened DATE DEFAULT '2026-01-01';
            ALTER TABLE accounts RENAME COLUMN balance TO funds;
            ALTER TABLE pairs RENAME TO couples;
            ALTER TABLE accounts DROP COLUMN opened
            """)
        let accounts = try #require(catalog.table("accounts"))
        #expect(accounts.columns.map(\.name) == ["id", "owner", "funds", "note"])
        #expect(accounts.primaryKey == [0] && accounts.columns[0].notNull)
        #expect(accounts.uniqueConstraints == [[1]])
        #expect(accounts.columns[2].checkSQL == "(funds >= 0)")
        #expect(accounts.columns[2].defaultSQL == "0")
        #expect(catalog.index("by_note")?.columns == [3, 2])
        let couples = try #require(catalog.table("couples"))
        #expect(couples.primaryKey == [0, 1] && couples.checks == ["(a < b)"])
        #expect(catalog.table("pairs") == nil)
        #expect(try Catalog.decode(catalog.encoded) == catalog)
        try apply(&catalog, "DROP TABLE accounts")
        #expect(catalog.index("by_note") == nil, "dropping a table drops its indexes")
        #expect(try Catalog.decode(catalog.encoded) == catalog)
    }

    @Test func mistakesAreRefusedAndChangeNothing() throws {
        var catalog = Catalog()
        try apply(&catalog, "CREATE TABLE t (a INT PRIMARY KEY, b TEXT, c INT); CREATE UNIQUE INDEX t_b ON t (b)")
        let cases: [(String, String)] = [
            ("CREATE TABLE t (x INT)", "already a table or index named t"),
            ("CREATE TABLE u (x INT, X TEXT)", "column X is defined twice"),
            ("CREATE TABLE u (x INT PRIMARY KEY, y INT, PRIMARY KEY (y))", "more than one PRIMARY KEY"),
            ("CREATE TABLE u (x INT, PRIMARY KEY (z))", "has no column z"),
            ("CREATE TABLE u (x INT DEFAULT (y + 1))", "must be a constant"),
            ("DROP TABLE nope", "no table named nope"),
            ("DROP INDEX nope", "no index named nope"),
            ("CREATE INDEX i ON t (a, a)", "appears twice"),
            ("CREATE INDEX i ON nope (a)", "no table named nope"),
            ("ALTER TABLE t ADD COLUMN a INT", "already has a column a"),
            ("ALTER TABLE t ADD COLUMN d INT NOT NULL", "needs a non-NULL DEFAULT"),
            ("ALTER TABLE t ADD COLUMN d INT UNIQUE", "cannot add a PRIMARY KEY or UNIQUE column"),
            ("ALTER TABLE t DROP COLUMN a", "part of the primary key"),
            ("ALTER TABLE t DROP COLUMN b", "index t_b uses it"),
            ("ALTER TABLE t RENAME COLUMN c TO b", "already has a column b"),
            ("ALTER TABLE t RENAME TO t_b", "already a table or index named t_b"),
        ]
        for (sql, expected) in cases {
            let message = error(catalog, sql)
            #expect(message.contains(expected), "\(sql): \(message)")
        }
        try apply(&catalog, "CREATE TABLE IF NOT EXISTS t (x INT); DROP TABLE IF EXISTS nope; DROP INDEX IF EXISTS nope")
        #expect(catalog.table("t")?.columns.count == 3)
    }

    @Test func damagedBytesAreErrors() throws {
        var catalog = Catalog()
        try apply(&catalog, "CREATE TABLE t (a INT PRIMARY KEY, b TEXT CHECK (length(b) < 9)); CREATE INDEX i ON t (b)")
        let bytes = catalog.encoded
        for length in 0..<bytes.count {
            #expect(throws: DecodeError.self) { try Catalog.decode(Array(bytes.prefix(length))) }
        }
        let random = TestEntropy(seed: 3)
        for _ in 0..<2000 {
            var damaged = bytes
            damaged[Int(random.uniform(below: UInt64(bytes.count)))] ^= UInt8(truncatingIfNeeded: random.nextUInt64() | 1)
            _ = try? Catalog.decode(damaged)
        }
    }
}
