@testable import Aegis
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Runtime

/// A fresh directory under /tmp, removed with everything in it when the test is done.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/aegis-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template)
    }

    deinit {
        if let stream = opendir(path) {
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(stream)
        }
        rmdir(path)
    }
}

@Suite struct FileDiskTests {
    @Test func filesAreWrittenReadSyncedRenamedAndRemoved() throws {
        let directory = TemporaryDirectory()
        let disk = try FileDisk(path: directory.path)
        #expect(disk.sectorSize >= 512)
        let file = try disk.create("alpha")
        try disk.write(file, offset: 0, bytes: Array("hello, disk".utf8))
        try disk.write(file, offset: 20, bytes: [1, 2, 3])
        try disk.sync(file)
        #expect(try disk.size(file) == 23)
        #expect(try disk.read(file, offset: 0, count: 5) == Array("hello".utf8))
        #expect(try disk.read(file, offset: 11, count: 9) == [UInt8](repeating: 0, count: 9))
        #expect(try disk.read(file, offset: 21, count: 10) == [2, 3], "a read past the end is short")
        try disk.truncate(file, size: 5)
        #expect(try disk.size(file) == 5)
        disk.close(file)
        try disk.rename("alpha", to: "beta")
        try disk.syncDirectory()
        #expect(try disk.list() == ["beta"])
        #expect(!disk.exists("alpha") && disk.exists("beta"))
        let reopened = try disk.open("beta")
        #expect(try disk.read(reopened, offset: 0, count: 100) == Array("hello".utf8))
        disk.close(reopened)
        try disk.remove("beta")
        #expect(try disk.list().isEmpty)
    }

    @Test func errorsNameTheFileAndTheCause() throws {
        let directory = TemporaryDirectory()
        let disk = try FileDisk(path: directory.path)
        #expect(throws: DiskError.notFound(name: "missing")) { _ = try disk.open("missing") }
        _ = try disk.create("once")
        #expect(throws: DiskError.alreadyExists(name: "once")) { _ = try disk.create("once") }
        #expect(throws: DiskError.invalidName(name: "a/b")) { _ = try disk.create("a/b") }
        #expect(throws: DiskError.badHandle(DiskFile(rawValue: 999))) { _ = try disk.read(DiskFile(rawValue: 999), offset: 0, count: 1) }
        #expect(throws: DiskError.notFound(name: "missing")) { try disk.remove("missing") }
        #expect(throws: DiskError.self) { _ = try FileDisk(path: "/proc/aegis-cannot-create-here") }
    }

    /// The LSM tree runs on the real disk exactly as on the simulated one.
    @Test func theStorageEngineRunsOnIt() throws {
        let directory = TemporaryDirectory()
        var options = StorageOptions.simulation
        options.compression = .zstd(level: 3)
        var expected: [String: String] = [:]
        do {
            let tree = try LSMTree(disk: try FileDisk(path: directory.path), options: options)
            for timestamp in 1...2000 {
                let key = "key-\(timestamp * 7 % 500)"
                let value = "value-\(timestamp)"
                try tree.apply([KeyWrite(key: Array(key.utf8), value: Array(value.utf8))], at: Timestamp(timestamp))
                expected[key] = value
                if timestamp % 10 == 0 { try tree.sync() }
            }
            try tree.sync()
            #expect(tree.statistics.flushes > 0 && tree.statistics.compactions > 0)
            tree.close()
        }
        let reopened = try LSMTree(disk: try FileDisk(path: directory.path), options: options)
        #expect(reopened.lastTimestamp == 2000)
        for key in expected.keys.sorted() {
            #expect(try reopened.get(Array(key.utf8), at: 2000)?.value == Array(expected[key]!.utf8))
        }
        #expect(try reopened.scan(from: [], to: nil, at: 2000).count == expected.count)
    }
}
