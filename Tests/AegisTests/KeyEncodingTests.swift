import Testing
@testable import Aegis

@Suite struct KeyEncodingTests {
    private func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    private func randomValue(_ random: TestEntropy) -> SQLValue {
        let interesting: [Int64] = [0, 1, -1, 2, 1 << 53, (1 << 53) + 1, -(1 << 53) - 1, .max, .max - 1, .min, .min + 1, 9_007_199_254_740_993]
        switch random.uniform(below: 7) {
        case 0: return .null
        case 1: return .integer(interesting[Int(random.uniform(below: UInt64(interesting.count)))] &+ Int64(random.uniform(below: 3)) &- 1)
        case 2: return .integer(Int64(bitPattern: random.nextUInt64()) >> Int64(random.uniform(below: 63)))
        case 3:
            let reals: [Double] = [0, -0.0, 0.5, -0.5, 1, 1.5, 9.223372036854775807e18, -9.223372036854775808e18, 9.007199254740992e15,
                                   .infinity, -.infinity, 1e-300, -1e300, Double(1 << 53), Double(1 << 53) + 2]
            return .real(reals[Int(random.uniform(below: UInt64(reals.count)))])
        case 4: return .real(Double(bitPattern: random.nextUInt64() & ~(0x7FF << 52) | (UInt64(random.uniform(below: 2046) + 1) << 52)))
        case 5:
            let pieces = ["", "a", "ab", "a\u{0}", "a\u{0}b", "b", "é", "\u{0}", "zz"]
            return .text(pieces[Int(random.uniform(below: UInt64(pieces.count)))] + pieces[Int(random.uniform(below: UInt64(pieces.count)))])
        default:
            return .blob((0..<random.uniform(below: 4)).map { _ in UInt8([0, 1, 0xFF, 0x80][Int(random.uniform(below: 4))]) })
        }
    }

    /// For random pairs (and pairs of pairs, ascending and descending), the keys'
    /// byte order is SQLite's value order.
    @Test func keysSortAsTheValuesDo() {
        let random = TestEntropy(seed: 99)
        for _ in 0..<50_000 {
            let a = randomValue(random)
            let b = randomValue(random)
            let expected = SQLValue.order(a, b)
            #expect(compare(KeyEncoding.key([a]), KeyEncoding.key([b])) == expected, "\(a) vs \(b)")
            #expect(compare(KeyEncoding.key([a], descending: [true]), KeyEncoding.key([b], descending: [true])) == -expected, "desc \(a) vs \(b)")
            let c = randomValue(random)
            let d = randomValue(random)
            let tupleOrder = expected != 0 ? expected : SQLValue.order(c, d)
            #expect(compare(KeyEncoding.key([a, c]), KeyEncoding.key([b, d])) == tupleOrder, "(\(a), \(c)) vs (\(b), \(d))")
            let mixed = expected != 0 ? expected : -SQLValue.order(c, d)
            #expect(compare(KeyEncoding.key([a, c], descending: [false, true]), KeyEncoding.key([b, d], descending: [false, true])) == mixed)
        }
    }

    @Test func equalNumbersOfEitherTypeShareAKey() {
        #expect(KeyEncoding.key([.integer(1)]) == KeyEncoding.key([.real(1)]))
        #expect(KeyEncoding.key([.real(0)]) == KeyEncoding.key([.real(-0.0)]))
        #expect(KeyEncoding.key([.integer(1 << 53 + 1)]) != KeyEncoding.key([.real(Double(1 << 53))]))
    }
}
