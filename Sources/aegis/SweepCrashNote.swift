#if canImport(Glibc)
import Glibc
#endif

/// When a seed trips a precondition (a real bug: the simulator keeps invariants as
/// preconditions), the whole sweep process dies. This note says which seeds were under
/// way and how to run each alone, before the runtime's backtrace: every worker writes
/// its seed's reproduce command into its own slot before running it, and a handler for
/// the crash signals writes the slots out with `write(2)` (nothing else is safe in a
/// signal handler), then puts the previous handlers back so the crash goes on as before.
enum SweepCrashNote {
    static let slotsMax = 256
    static let slotBytes = 512
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE]

    nonisolated(unsafe) private static var slots: UnsafeMutablePointer<UInt8>?
    nonisolated(unsafe) private static var lengths: UnsafeMutablePointer<Int>?
    nonisolated(unsafe) private static var previous: UnsafeMutablePointer<sigaction>?

    /// Sets up the slots and the handlers (once, before the workers start).
    static func install() {
        #if canImport(Glibc)
        guard slots == nil else { return }
        slots = .allocate(capacity: slotsMax * slotBytes)
        lengths = .allocate(capacity: slotsMax)
        lengths!.initialize(repeating: 0, count: slotsMax)
        previous = .allocate(capacity: signals.count)
        for (position, signal) in signals.enumerated() {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in SweepCrashNote.crashed(signal) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signal, &action, previous! + position)
        }
        #endif
    }

    /// Records what `slot` runs now (called by the worker, outside any signal).
    static func running(slot: Int, command: String) {
        guard let slots, let lengths, slot < slotsMax else { return }
        let bytes = Array(("  under way: " + command + "\n").utf8.prefix(slotBytes))
        lengths[slot] = 0
        bytes.withUnsafeBufferPointer { buffer in
            (slots + slot * slotBytes).update(from: buffer.baseAddress!, count: buffer.count)
        }
        lengths[slot] = bytes.count
    }

    static func idle(slot: Int) {
        guard let lengths, slot < slotsMax else { return }
        lengths[slot] = 0
    }

    private static func crashed(_ signal: Int32) {
        #if canImport(Glibc)
        let header: StaticString = "\naegis sim sweep: the process crashed (a precondition or a fault) while running these seeds; run each alone to see which:\n"
        _ = write(2, header.utf8Start, header.utf8CodeUnitCount)
        if let slots, let lengths {
            for slot in 0..<slotsMax where lengths[slot] > 0 {
                _ = write(2, slots + slot * slotBytes, lengths[slot])
            }
        }
        if let previous {
            for (position, signal) in signals.enumerated() { sigaction(signal, previous + position, nil) }
        }
        // Returning re-runs the faulting instruction (or abort raises again), now
        // under the previous handler, which prints the backtrace and ends the process.
        #endif
    }
}
