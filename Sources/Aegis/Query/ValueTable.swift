/// A hash table from one SQL value to a position (a group, a bucket of held rows):
/// what GROUP BY and hash joins look up for every row they read. Open addressing with
/// linear probing over a power-of-two slot array, and a fixed, cheap hash that agrees
/// with `SQLValue`'s equality (1 and 1.0 are one key). Swift's seeded `Hasher` cost a
/// fifth of a join's time here; this hash is also the same in every process. Like
/// SQLite's, it is not keyed, so chosen values can collide on purpose; the cost of
/// that is time, never a wrong answer (keys are compared in full).
///
/// Only looked up and added to; never iterated.
struct ValueTable {
    private var keys: [SQLValue] = []
    private var positions: [Int] = []
    /// Index into `keys` plus one; 0 is an empty slot.
    private var slots: [Int32]
    private var mask: Int

    init() {
        slots = Array(repeating: 0, count: 16)
        mask = 15
    }

    var count: Int { keys.count }

    /// The position stored for `key`, if any.
    func find(_ key: SQLValue) -> Int? {
        var slot = Int(truncatingIfNeeded: ValueTable.hash(key)) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            if ValueTable.same(keys[entry - 1], key) { return positions[entry - 1] }
            slot = (slot + 1) & mask
        }
    }

    /// Stores `position` for `key`, which must not be in the table yet.
    mutating func insert(_ key: SQLValue, _ position: Int) {
        if (keys.count + 1) * 2 > slots.count { grow() }
        keys.append(key)
        positions.append(position)
        place(keys.count - 1)
    }

    private mutating func place(_ index: Int) {
        var slot = Int(truncatingIfNeeded: ValueTable.hash(keys[index])) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index + 1)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for index in keys.indices { place(index) }
    }

    /// SQL equality (`SQLValue ==`), with the common same-type cases compared directly.
    @inline(__always)
    static func same(_ a: SQLValue, _ b: SQLValue) -> Bool {
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x == y
        case let (.text(x), .text(y)): return x == y
        default: return a == b
        }
    }

    /// Equal values hash equally: an integer hashes as the Double it converts to (as
    /// 1 and 1.0 are equal), and -0.0 as 0.0.
    static func hash(_ value: SQLValue) -> UInt64 {
        switch value {
        case .null:
            return 0x9E37_79B9_7F4A_7C15
        case let .integer(number):
            return mix(Double(number).bitPattern)
        case let .real(number):
            return mix((number == 0 ? 0.0 : number).bitPattern)
        case let .text(text):
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            return mix(hash ^ 0x02)
        case let .blob(bytes):
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            return mix(hash ^ 0x03)
        }
    }

    /// A 64-bit finalizer (from SplitMix64): every input bit reaches the low bits the
    /// slot index uses.
    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
