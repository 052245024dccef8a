/// What a leader knows of one follower's log, and how it is sending to it.
struct Progress: Sendable {
    enum State: String, Sendable {
        /// Finding where the logs agree: one append in flight at a time.
        case probe
        /// Streaming: appends are pipelined, up to the in-flight bound.
        case replicate
        /// The entries it needs were compacted: a snapshot is being sent, chunk by chunk.
        case snapshot
    }

    var match: LogIndex = .zero
    var next: LogIndex
    var state = State.probe
    /// In probe state: an append was sent and no answer came yet.
    var probeSent = false
    /// Last index of each append in flight, oldest first (replicate state).
    var inflight: [LogIndex] = []
    /// Heard from since the last CheckQuorum round.
    var recentActive = false
    /// The snapshot being sent and how many of its bytes the follower has.
    var snapshotIndex: LogIndex = .zero
    var snapshotOffset: UInt32 = 0
    var snapshotTicksSinceSend = 0

    init(next: LogIndex) {
        self.next = next
    }

    func isPaused(inflightMax: Int) -> Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflight.count >= inflightMax
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            next = max(match.next, snapshotIndex.next)
        } else {
            next = match.next
        }
        state = .probe
        probeSent = false
        inflight.removeAll()
        snapshotIndex = .zero
        snapshotOffset = 0
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match.next
        probeSent = false
        inflight.removeAll()
    }

    mutating func becomeSnapshot(index: LogIndex) {
        state = .snapshot
        snapshotIndex = index
        snapshotOffset = 0
        snapshotTicksSinceSend = 0
        probeSent = false
        inflight.removeAll()
    }

    /// A successful append answer up to `index`; returns whether it taught us anything.
    mutating func update(match index: LogIndex) -> Bool {
        var updated = false
        if index > match {
            match = index
            updated = true
            probeSent = false
        }
        next = max(next, index.next)
        while let first = inflight.first, first <= index { inflight.removeFirst() }
        return updated
    }

    /// A rejection of the append after `rejected`, with the follower's hint of where its
    /// log may agree. Returns false when the rejection is stale.
    mutating func decrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            guard rejected > match else { return false }
            next = match.next
            return true
        }
        guard next.rawValue >= 1, next.previous == rejected else { return false }
        next = max(min(rejected, hint.next), match.next, LogIndex(1))
        probeSent = false
        return true
    }
}
