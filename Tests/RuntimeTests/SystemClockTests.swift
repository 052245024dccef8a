import Aegis
import Testing
@testable import Runtime

@Suite struct SystemClockTests {
    @Test func monotonicNeverGoesBack() {
        let clock = SystemClock()
        var last = clock.monotonicNanoseconds
        for _ in 0..<10_000 {
            let now = clock.monotonicNanoseconds
            #expect(now >= last)
            last = now
        }
    }

    @Test func wallClockIsUnixTime() {
        // After 2024-01-01 and before 2100-01-01: a real wall clock, in nanoseconds.
        let wall = SystemClock().wallNanosecondsSinceEpoch
        #expect(wall > 1_704_067_200 * 1_000_000_000)
        #expect(wall < 4_102_444_800 * 1_000_000_000)
    }
}
