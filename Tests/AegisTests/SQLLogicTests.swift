import Foundation
import Testing
@testable import Aegis

/// The sqllogictest corpus (Tests/SQLLogic/*.test) against Aegis. The same files are
/// held to SQLite's answers by tools/sqllogictest/sqllogictest.py (scripts/test.sh runs
/// both), so every expected result here is SQLite's unless marked `onlyif aegis`.
@Suite struct SQLLogicTests {
    static var corpus: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("SQLLogic")
    }

    static var files: [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: corpus, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "test" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test func corpusPasses() throws {
        #expect(SQLLogicTests.files.count >= 10, "the corpus is missing from \(SQLLogicTests.corpus.path)")
        var runner = SQLLogicRunner()
        for file in SQLLogicTests.files {
            runner.run(try String(contentsOf: file, encoding: .utf8), file: file.lastPathComponent)
        }
        for failure in runner.failures { Issue.record("\(failure)") }
        #expect(runner.recordsRun > 300)
    }

    /// The runner itself must fail on a wrong answer, a wrong error expectation and a
    /// wrong hash, or a passing corpus would mean nothing.
    @Test func runnerCatchesWrongExpectations() {
        var runner = SQLLogicRunner()
        runner.run("""
        statement ok
        CREATE TABLE t (a INTEGER)

        statement ok
        INSERT INTO t VALUES (1), (2), (3)

        query I rowsort
        SELECT a FROM t
        ----
        1
        2
        4

        statement error
        SELECT a FROM t

        statement ok
        SELECT nope FROM t

        hash-threshold 2

        query I rowsort
        SELECT a FROM t
        ----
        3 values hashing to 00000000000000000000000000000000
        """, file: "planted.test")
        #expect(runner.failures.map(\.line) == [7, 14, 17, 22])
    }

    @Test func md5MatchesKnownDigests() {
        #expect(MD5.hex("") == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex("1\n2\n3\n") == "c0710d6b4f15dfa88f600b0e6b624077")
    }
}
