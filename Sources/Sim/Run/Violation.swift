/// A check that failed. Safety violations mean something wrong happened; liveness
/// violations mean something right did not happen within the bound.
public struct Violation: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case safety
        case liveness
    }

    public var kind: Kind
    public var check: CheckName
    public var message: String

    public var description: String { "\(kind.rawValue) violation (\(check.rawValue)): \(message)" }
}

/// The verdict of one run, with the process exit code the CLI gives it.
public enum Outcome: String, Sendable, CaseIterable {
    case pass
    case safetyViolation = "safety_violation"
    case livenessViolation = "liveness_violation"

    public var exitCode: Int32 {
        switch self {
        case .pass: return AegisExitCode.passed
        case .safetyViolation: return AegisExitCode.safetyViolation
        case .livenessViolation: return AegisExitCode.livenessViolation
        }
    }
}

/// Exit codes of the `aegis` CLI, distinct per kind of result.
public enum AegisExitCode {
    public static let passed: Int32 = 0
    public static let safetyViolation: Int32 = 1
    public static let badInput: Int32 = 2
    public static let livenessViolation: Int32 = 3
    public static let replayDivergence: Int32 = 4
}
