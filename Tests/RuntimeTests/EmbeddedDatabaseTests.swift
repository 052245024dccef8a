@testable import Aegis
import Testing
@testable import Runtime

/// The embedded SQL database on the Linux disk: tables, indexes and rows survive
/// closing and reopening; a second opener of the same directory is refused.
@Suite struct EmbeddedDatabaseTests {
    @Test func tablesSurviveClosingAndReopening() throws {
        let directory = TemporaryDirectory()
        do {
            let embedded = try EmbeddedDatabase(directory: directory.path)
            let session = embedded.database.session()
            _ = try session.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v)")
            _ = try session.execute("BEGIN; INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three'); COMMIT")
            _ = try session.execute("BEGIN; DELETE FROM t; ROLLBACK")
            embedded.close()
        }
        let embedded = try EmbeddedDatabase(directory: directory.path)
        defer { embedded.close() }
        let session = embedded.database.session()
        #expect(try session.execute("SELECT id FROM t WHERE v = 'two'").last?.rows == [[.integer(2)]])
        #expect(try session.execute("SELECT count(*) FROM t").last?.rows == [[.integer(3)]])
    }

    @Test func aSecondOpenerOfTheDirectoryIsRefused() throws {
        let directory = TemporaryDirectory()
        let first = try EmbeddedDatabase(directory: directory.path)
        defer { first.close() }
        #expect(throws: (any Error).self) { _ = try EmbeddedDatabase(directory: directory.path) }
    }
}
