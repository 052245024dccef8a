/// A `HOST:PORT` address as given in flags and configuration files.
public struct HostPort: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (an IPv6 host in brackets: `[::1]:9190`).
    public init(parsing text: String, what: String) throws(ConfigurationError) {
        let trimmed = text.trimmingWhitespace
        guard let colon = trimmed.lastIndex(of: ":") else {
            throw .invalid("\(what) '\(text)' has no port; write it as HOST:PORT, like 127.0.0.1:9090")
        }
        var hostPart = String(trimmed[trimmed.startIndex..<colon])
        if hostPart.hasPrefix("["), hostPart.hasSuffix("]") { hostPart = String(hostPart.dropFirst().dropLast()) }
        guard let port = Int(trimmed[trimmed.index(after: colon)...]), (1...65535).contains(port) else {
            throw .invalid("\(what) '\(text)' needs a port from 1 to 65535, like 127.0.0.1:9090")
        }
        guard !hostPart.isEmpty, hostPart.allSatisfy({ $0.isLetter || $0.isNumber || "-.:".contains($0) }) else {
            throw .invalid("\(what) '\(text)' needs a host name or IP address before the port")
        }
        host = hostPart
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
