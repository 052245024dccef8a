/// The catalog as bytes, for the log and for snapshots: a version byte, then tables and
/// indexes in name order.
extension Catalog {
    static let formatVersion: UInt8 = 1
    /// Adds each table's hash buckets; written only when a table has some, so every
    /// catalog without one keeps the bytes (and digests) it always had.
    static let formatVersionHashBuckets: UInt8 = 2
    static let typeCodes: [TypeName] = [.integer, .bigint, .real, .double, .decimal, .text, .varchar, .boolean, .blob, .date, .timestamp]

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 256)
        let hashed = tables.contains { $0.hashBuckets > 0 }
        writer.write(hashed ? Catalog.formatVersionHashBuckets : Catalog.formatVersion)
        writer.write(nextID)
        writer.write(UInt32(tables.count))
        for table in tables {
            writer.write(table.id)
            writer.write(table.name)
            writer.write(UInt32(table.columns.count))
            for column in table.columns {
                writer.write(column.name)
                writer.write(UInt8(Catalog.typeCodes.firstIndex(of: column.type)!))
                writer.write(UInt8(column.notNull ? 1 : 0))
                Catalog.writeOptional(column.defaultSQL, into: &writer)
                Catalog.writeOptional(column.checkSQL, into: &writer)
            }
            Catalog.writePositions(table.primaryKey, into: &writer)
            writer.write(UInt32(table.uniqueConstraints.count))
            for unique in table.uniqueConstraints { Catalog.writePositions(unique, into: &writer) }
            writer.write(UInt32(table.checks.count))
            for check in table.checks { writer.write(check) }
            if hashed { writer.write(UInt16(table.hashBuckets)) }
        }
        writer.write(UInt32(indexes.count))
        for index in indexes {
            writer.write(index.id)
            writer.write(index.name)
            writer.write(index.table)
            Catalog.writePositions(index.columns, into: &writer)
            writer.write(UInt8(index.unique ? 1 : 0))
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Catalog {
        var reader = ByteReader(bytes)
        let version = try reader.readUInt8()
        guard version == formatVersion || version == formatVersionHashBuckets else { throw .invalid("unknown catalog format \(version)") }
        var catalog = Catalog()
        catalog.nextID = try reader.readUInt32()
        let tableCount = try count(&reader, max: 100_000)
        for _ in 0..<tableCount {
            let id = try reader.readUInt32()
            let name = try reader.readString(maximumCount: 4096)
            var columns: [Column] = []
            for _ in 0..<(try count(&reader, max: 32_767)) {
                let columnName = try reader.readString(maximumCount: 4096)
                let code = Int(try reader.readUInt8())
                guard code < typeCodes.count else { throw .invalid("unknown column type \(code)") }
                let notNull = try reader.readUInt8() != 0
                columns.append(Column(name: columnName, type: typeCodes[code], notNull: notNull,
                    defaultSQL: try readOptional(&reader), checkSQL: try readOptional(&reader)))
            }
            let primaryKey = try readPositions(&reader, below: columns.count)
            var uniques: [[Int]] = []
            for _ in 0..<(try count(&reader, max: 32_767)) { uniques.append(try readPositions(&reader, below: columns.count)) }
            var checks: [String] = []
            for _ in 0..<(try count(&reader, max: 32_767)) { checks.append(try reader.readString(maximumCount: 1 << 20)) }
            var table = Table(id: id, name: name, columns: columns, primaryKey: primaryKey, uniqueConstraints: uniques, checks: checks)
            if version == formatVersionHashBuckets {
                table.hashBuckets = Int(try reader.readUInt16())
                guard table.hashBuckets == 0 || (2...256).contains(table.hashBuckets) && !primaryKey.isEmpty else {
                    throw .invalid("table \(name) has \(table.hashBuckets) hash buckets")
                }
            }
            catalog.tables.append(table)
        }
        for _ in 0..<(try count(&reader, max: 100_000)) {
            let id = try reader.readUInt32()
            let name = try reader.readString(maximumCount: 4096)
            let table = try reader.readString(maximumCount: 4096)
            guard let owner = catalog.table(table) else { throw .invalid("index \(name) is on a missing table") }
            let columns = try readPositions(&reader, below: owner.columns.count)
            catalog.indexes.append(Index(id: id, name: name, table: table, columns: columns, unique: try reader.readUInt8() != 0))
        }
        guard reader.isAtEnd else { throw .invalid("trailing bytes after the catalog") }
        return catalog
    }

    private static func count(_ reader: inout ByteReader, max: Int) throws(DecodeError) -> Int {
        let value = Int(try reader.readUInt32())
        guard value <= max else { throw .invalid("a catalog count of \(value) is above \(max)") }
        return value
    }

    private static func writeOptional(_ text: String?, into writer: inout ByteWriter) {
        if let text {
            writer.write(UInt8(1))
            writer.write(text)
        } else {
            writer.write(UInt8(0))
        }
    }

    private static func readOptional(_ reader: inout ByteReader) throws(DecodeError) -> String? {
        switch try reader.readUInt8() {
        case 0: return nil
        case 1: return try reader.readString(maximumCount: 1 << 20)
        case let flag: throw .invalid("optional flag \(flag)")
        }
    }

    private static func writePositions(_ positions: [Int], into writer: inout ByteWriter) {
        writer.write(UInt32(positions.count))
        for position in positions { writer.write(UInt32(position)) }
    }

    private static func readPositions(_ reader: inout ByteReader, below limit: Int) throws(DecodeError) -> [Int] {
        var positions: [Int] = []
        for _ in 0..<(try count(&reader, max: 32_767)) {
            let position = Int(try reader.readUInt32())
            guard position < limit else { throw .invalid("column position \(position) beyond \(limit) columns") }
            positions.append(position)
        }
        return positions
    }
}
