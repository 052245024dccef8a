/// How often and how long a client retries a call: exponential backoff with a cap and
/// a bound on attempts. Every loop has a bound; this is the client's.
public struct RetryPolicy: Equatable, Sendable {
    public var attemptsMax: Int
    public var initialDelayMilliseconds: Int
    public var delayMaxMilliseconds: Int

    public init(attemptsMax: Int = 5, initialDelayMilliseconds: Int = 50, delayMaxMilliseconds: Int = 2_000) {
        precondition(attemptsMax >= 1, "a call is attempted at least once")
        precondition(initialDelayMilliseconds >= 1 && delayMaxMilliseconds >= initialDelayMilliseconds,
            "backoff delays must be positive and the cap no smaller than the first delay")
        self.attemptsMax = attemptsMax
        self.initialDelayMilliseconds = initialDelayMilliseconds
        self.delayMaxMilliseconds = delayMaxMilliseconds
    }

    /// The delay before attempt `attempt` (2 is the first retry), or nil when the
    /// attempts are used up. `jitterUnit` in [0, 1) spreads clients apart: the delay is
    /// drawn from [half, full] of the backoff.
    public func delayMilliseconds(beforeAttempt attempt: Int, jitterUnit: Double) -> Int? {
        guard attempt >= 2, attempt <= attemptsMax else { return nil }
        var backoff = initialDelayMilliseconds
        for _ in 2..<attempt where backoff < delayMaxMilliseconds {
            backoff = min(backoff * 2, delayMaxMilliseconds)
        }
        let jitter = min(max(jitterUnit, 0), 0.999_999)
        return backoff / 2 + Int(Double(backoff - backoff / 2) * jitter)
    }
}

public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidEndpoint(String, reason: String)
    /// The server answered with an error: its HTTP status, stable code and sentence.
    case server(status: Int, code: String, message: String)
    /// No endpoint could be reached (or none answered in time) within the retries.
    case unreachable(String)
    /// The server's answer could not be understood.
    case invalidResponse(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .invalidEndpoint(text, reason):
            return "'\(text)' is not a valid endpoint: \(reason); use a form like http://127.0.0.1:9090"
        case let .server(_, _, message):
            return message
        case let .unreachable(detail):
            return "no Aegis node answered (\(detail)); check that the server runs and that --endpoint points at it"
        case let .invalidResponse(detail):
            return "the server's answer could not be understood (\(detail)); check that --endpoint points at an Aegis server"
        case let .invalidArgument(detail):
            return detail
        }
    }

    /// The server's stable error code, when it answered with one.
    public var code: String? {
        if case let .server(_, code, _) = self { return code }
        return nil
    }
}
