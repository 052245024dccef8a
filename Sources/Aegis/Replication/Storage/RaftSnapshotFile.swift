/// A snapshot on disk: a `TwinFile` (two whole copies, so one damaged sector never costs
/// the image) whose payload is the snapshot's metadata (index, term, configuration)
/// followed by the state machine's bytes. A file with no readable copy is damaged:
/// `read` returns nil and the log store treats it as corruption.
public enum RaftSnapshotFile {
    static let magic: UInt32 = 0x5347_4541  // "AEGS" little-endian

    static func payload(_ snapshot: Snapshot) -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + snapshot.data.count)
        snapshot.metadata.encode(into: &writer)
        writer.write(raw: snapshot.data)
        return writer.bytes
    }

    static func snapshot(from payload: [UInt8]) -> Snapshot? {
        var reader = ByteReader(payload)
        guard let metadata = try? SnapshotMetadata.decode(from: &reader) else { return nil }
        return Snapshot(metadata: metadata, data: Array(payload[reader.offset...]))
    }

    static func write(_ snapshot: Snapshot, disk: any Disk, name: String, sync: Bool) throws(DiskError) {
        try TwinFile.write(payload(snapshot), magic: magic, disk: disk, name: name, sync: sync)
    }

    /// The snapshot in `name`, or nil when no copy is whole. A damaged copy is
    /// rewritten from the whole one.
    static func read(disk: any Disk, name: String) throws(DiskError) -> (Snapshot, repaired: Bool)? {
        guard let (payload, repaired) = try TwinFile.read(magic: magic, disk: disk, name: name),
              let snapshot = snapshot(from: payload) else { return nil }
        return (snapshot, repaired)
    }
}
