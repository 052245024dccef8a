import Aegis

/// Keeps the running hash of a run's event stream and, when asked, its text.
///
/// Every event folds (step, time, node, kind, payload digest) into the hash whether or
/// not text is kept, so a sweep pays only for hashing; a failing seed is simply run
/// again with recording on, and determinism guarantees the same events.
public final class TraceRecorder {
    public private(set) var step: UInt64 = 0
    private var hash = StableHash64()
    /// The event lines, when recording.
    public private(set) var lines: [String]?
    /// Called with each line as it is made, for `--verbose`.
    private let echo: ((String) -> Void)?

    public init(recording: Bool, echo: ((String) -> Void)? = nil) {
        lines = recording ? [] : nil
        self.echo = echo
    }

    public var runningHash: UInt64 { hash.value }
    /// When set, the running hash right after that step is kept in `capturedHash`.
    public var captureAtStep: UInt64?
    public private(set) var capturedHash: UInt64?
    public var isRecording: Bool { lines != nil || echo != nil }

    /// Records one event. `node` is nil for events of the world as a whole.
    public func record(time: UInt64, node: NodeID?, kind: String, digest: UInt64, detail: @autoclosure () -> String) {
        hash.combine(step)
        hash.combine(time)
        hash.combine(UInt64(node?.rawValue ?? 0))
        hash.combine(kind)
        hash.combine(digest)
        if step == captureAtStep { capturedHash = hash.value }
        if isRecording {
            let line = TraceLine.format(
                step: step, time: time, node: node, kind: kind, digest: digest, detail: detail())
            lines?.append(line)
            echo?(line)
        }
        step += 1
    }
}

/// One event line: `STEP TIME NODE KIND DIGEST DETAIL…`, fields separated by one space;
/// TIME is seconds with nine decimals, NODE `n3` or `-`, DIGEST sixteen hex digits.
public enum TraceLine {
    public static func format(
        step: UInt64, time: UInt64, node: NodeID?, kind: String, digest: UInt64, detail: String
    ) -> String {
        let nodeText = node.map { "n\($0.rawValue)" } ?? "-"
        let timeText = formatFixed(time, unit: Nanoseconds.perSecond, digits: 9)
        return detail.isEmpty
            ? "\(step) \(timeText) \(nodeText) \(kind) \(digest.hex16)"
            : "\(step) \(timeText) \(nodeText) \(kind) \(digest.hex16) \(detail)"
    }

    /// The node field of a line, or nil for a world event or an unparsable line.
    public static func node(of line: String) -> String? {
        let fields = line.split(separator: " ", maxSplits: 3)
        return fields.count >= 3 ? String(fields[2]) : nil
    }
}
