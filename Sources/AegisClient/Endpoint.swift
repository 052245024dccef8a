/// A server address given by a user, such as `http://127.0.0.1:9090`.
public struct Endpoint: Equatable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case http
        case https
    }

    public static let defaultPort = 9090

    public var scheme: Scheme
    public var host: String
    public var port: Int

    /// Parses `[http://|https://]HOST[:PORT][/]`; the scheme defaults to http and the
    /// port to 9090.
    public init(parsing text: String) throws(ClientError) {
        var rest = Substring(text.trimmingCharacters(in: " \t"))
        scheme = .http
        let separator = rest.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        if separator.count == 2 {
            guard let parsed = Scheme(rawValue: separator[0].lowercased()) else {
                throw .invalidEndpoint(text, reason: "the scheme must be http or https")
            }
            scheme = parsed
            rest = separator[1]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") else {
            throw .invalidEndpoint(text, reason: "give only scheme, host and port, without a path")
        }
        var hostPart = rest
        port = Endpoint.defaultPort
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            hostPart = rest[rest.startIndex..<colon]
            let portText = rest[rest.index(after: colon)...]
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw .invalidEndpoint(text, reason: "the port must be a number from 1 to 65535")
            }
            port = value
        }
        guard !hostPart.isEmpty,
              hostPart.allSatisfy({ $0.isLetter || $0.isNumber || "-.[]:".contains($0) })
        else {
            throw .invalidEndpoint(text, reason: "the host must be a name or an IP address")
        }
        host = String(hostPart)
    }

    public var description: String { "\(scheme.rawValue)://\(host):\(port)" }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
