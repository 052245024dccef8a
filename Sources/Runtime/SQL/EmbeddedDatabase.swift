import Aegis

/// A SQL database in a local directory, with no server: the LSM engine on the Linux
/// disk, locked against a second process (a server or another shell) using it.
public final class EmbeddedDatabase {
    public let database: SQLDatabase
    private let tree: LSMTree
    private let lock: DataDirectoryLock

    public init(directory: String) throws {
        lock = try DataDirectoryLock(directory: directory)
        do {
            tree = try LSMTree(disk: try FileDisk(path: directory + "/sql"), options: StorageOptions())
        } catch {
            lock.release()
            throw AegisServer.StartError.failed("cannot open the SQL data in \(directory): \(error)")
        }
        database = SQLDatabase(store: MVCCStore(backend: tree))
    }

    /// Flushes and closes the store, then releases the directory.
    public func close() {
        tree.close()
        lock.release()
    }
}
