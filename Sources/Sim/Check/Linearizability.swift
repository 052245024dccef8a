import Aegis

/// Linearizability of register histories: the Wing–Gong search with Lowe's
/// memoisation, per key (registers are independent, and a history is linearizable iff
/// each key's sub-history is), with a bound on work. The answer is linearizable, not
/// linearizable (with the smallest illegal sub-history found by removing operations
/// one at a time while the rest stays illegal), or unknown when the bound was hit —
/// and unknown is never counted as a pass.
public enum Linearizability {
    /// One operation as the checker sees it. Positions are the order of events in the
    /// history (a total order consistent with real time); `returned` is nil when the
    /// operation took effect but its response was never seen.
    public struct Operation: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case read(Int64?)
            case write(Int64)
            case cas(expected: Int64, new: Int64)
        }

        public var kind: Kind
        public var invoked: Int
        public var returned: Int?
        /// Where it came from in the caller's history (positions), for reports; made
        /// into text only when a report is needed.
        public var sources: [Int]
        public var note: String?

        public init(kind: Kind, invoked: Int, returned: Int?, sources: [Int], note: String? = nil) {
            self.kind = kind
            self.invoked = invoked
            self.returned = returned
            self.sources = sources
            self.note = note
        }
    }

    public enum Verdict: Sendable, Equatable {
        case linearizable
        case notLinearizable(key: Int, subHistory: [Operation])
        case unknown(key: Int, explored: Int)
    }

    /// Checks every key; the first failing key decides.
    public static func check(_ operationsByKey: [(key: Int, operations: [Operation])], statesMax: Int = 2_000_000) -> Verdict {
        var unknown: Verdict?
        for (key, operations) in operationsByKey {
            switch search(operations, statesMax: statesMax) {
            case .linearizable:
                continue
            case .illegal:
                return .notLinearizable(key: key, subHistory: shrink(operations, statesMax: statesMax))
            case let .exhausted(explored):
                if unknown == nil { unknown = .unknown(key: key, explored: explored) }
            }
        }
        return unknown ?? .linearizable
    }

    enum SearchResult: Equatable {
        case linearizable
        case illegal
        case exhausted(explored: Int)
    }

    /// Removes operations one at a time, keeping each removal that leaves the history
    /// illegal: what remains is illegal and every operation in it is needed.
    static func shrink(_ operations: [Operation], statesMax: Int) -> [Operation] {
        var kept = operations
        var position = kept.count - 1
        while position >= 0 {
            var candidate = kept
            candidate.remove(at: position)
            if search(candidate, statesMax: statesMax) == .illegal { kept = candidate }
            position -= 1
        }
        return kept.sorted { $0.invoked < $1.invoked }
    }

    private struct CacheKey: Hashable {
        var linearized: [UInt64]
        var state: Int64?
    }

    /// One call or return event in a doubly linked list, by position.
    private struct Entry {
        var operation: Int
        var isCall: Bool
        var previous: Int
        var next: Int
        /// For a call, the index of its return entry.
        var match: Int
    }

    static func search(_ operations: [Operation], statesMax: Int) -> SearchResult {
        guard !operations.isEmpty else { return .linearizable }
        // Calls and returns in history order; returns never seen go last.
        var events: [(position: Int, operation: Int, isCall: Bool)] = []
        let never = Int.max
        for (index, operation) in operations.enumerated() {
            events.append((operation.invoked, index, true))
            events.append((operation.returned ?? never, index, false))
        }
        events.sort { lhs, rhs in
            if lhs.position != rhs.position { return lhs.position < rhs.position }
            if lhs.isCall != rhs.isCall { return lhs.isCall }  // unseen returns tie at the end
            return lhs.operation < rhs.operation
        }
        // Entry 0 is the head sentinel; entries 1... are the events.
        var entries = [Entry(operation: -1, isCall: false, previous: -1, next: 1, match: -1)]
        var callEntry = [Int](repeating: 0, count: operations.count)
        var returnEntry = [Int](repeating: 0, count: operations.count)
        for (offset, event) in events.enumerated() {
            let index = offset + 1
            entries.append(Entry(operation: event.operation, isCall: event.isCall, previous: index - 1,
                next: offset + 1 < events.count ? index + 1 : -1, match: -1))
            if event.isCall { callEntry[event.operation] = index } else { returnEntry[event.operation] = index }
        }
        for operation in operations.indices { entries[callEntry[operation]].match = returnEntry[operation] }

        func unlink(_ index: Int) {
            let entry = entries[index]
            entries[entry.previous].next = entry.next
            if entry.next != -1 { entries[entry.next].previous = entry.previous }
        }
        func relink(_ index: Int) {
            let entry = entries[index]
            entries[entry.previous].next = index
            if entry.next != -1 { entries[entry.next].previous = index }
        }

        let words = (operations.count + 63) / 64
        var linearized = [UInt64](repeating: 0, count: words)
        var state: Int64? = nil
        var cache = Set<CacheKey>()
        var stack: [(call: Int, state: Int64?)] = []
        var current = entries[0].next
        var explored = 0
        while entries[0].next != -1 {
            explored += 1
            if explored > statesMax { return .exhausted(explored: explored) }
            guard current != -1 else { return .illegal }
            let entry = entries[current]
            if entry.isCall {
                let operation = operations[entry.operation]
                if let next = apply(operation.kind, to: state) {
                    var marked = linearized
                    marked[entry.operation / 64] |= 1 << UInt64(entry.operation % 64)
                    if cache.insert(CacheKey(linearized: marked, state: next)).inserted {
                        stack.append((current, state))
                        state = next
                        linearized = marked
                        // Lift the call and its return out of the list.
                        unlink(current)
                        unlink(entry.match)
                        current = entries[0].next
                        continue
                    }
                }
                current = entry.next
            } else {
                // A return whose call is not linearized yet: undo the last choice.
                guard let (call, previousState) = stack.popLast() else { return .illegal }
                let callEntry = entries[call]
                state = previousState
                linearized[callEntry.operation / 64] &= ~(1 << UInt64(callEntry.operation % 64))
                relink(callEntry.match)
                relink(call)
                current = callEntry.next
            }
        }
        return .linearizable
    }

    /// The register's next state, or nil when the operation cannot happen in `state`.
    static func apply(_ kind: Operation.Kind, to state: Int64?) -> Int64?? {
        switch kind {
        case let .read(value):
            return value == state ? .some(state) : nil
        case let .write(value):
            return .some(value)
        case let .cas(expected, new):
            return state == expected ? .some(new) : nil
        }
    }
}
