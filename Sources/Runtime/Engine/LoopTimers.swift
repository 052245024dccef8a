import Aegis
import NIOCore

/// The `Timers` door on a NIO event loop: each armed timer is a scheduled task on the
/// engine's loop, and firing it hands the node `NodeEvent.timer(id)` through `fire`.
/// Used only from that loop.
final class LoopTimers: Timers, @unchecked Sendable {
    private let loop: any EventLoop
    private var nextID: UInt64 = 1
    private var armed: [TimerID: Scheduled<Void>] = [:]
    /// Set by the host before the node starts.
    var fire: (TimerID) -> Void = { _ in }

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func arm(afterNanoseconds delay: UInt64) -> TimerID {
        loop.preconditionInEventLoop()
        let id = TimerID(rawValue: nextID)
        nextID += 1
        let nanoseconds = Int64(clamping: delay)
        armed[id] = loop.scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in
            guard armed.removeValue(forKey: id) != nil else { return }
            fire(id)
        }
        return id
    }

    func cancel(_ timer: TimerID) {
        loop.preconditionInEventLoop()
        armed.removeValue(forKey: timer)?.cancel()
    }

    /// Cancels every timer (the node is stopping).
    func cancelAll() {
        for timer in armed.keys.sorted() { armed.removeValue(forKey: timer)?.cancel() }
    }
}
