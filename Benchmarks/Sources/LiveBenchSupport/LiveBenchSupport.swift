// What the benchmarks that run real server processes share: command-line options, free
// loopback ports, launching and stopping processes, HTTP calls with a pooled client,
// waiting for a condition, and percentiles.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

public let benchArguments = Array(CommandLine.arguments.dropFirst())

public func option(_ name: String) -> String? {
    guard let index = benchArguments.firstIndex(of: name), index + 1 < benchArguments.count else { return nil }
    return benchArguments[index + 1]
}

public func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(2)
}

public func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// The release build of `aegis` (`--aegis PATH`, or the repository's `.build/release`).
public func findAegis() -> String {
    if let path = option("--aegis") { return path }
    for candidate in [".build/release/aegis", "../.build/release/aegis"] where FileManager.default.isExecutableFile(atPath: candidate) {
        return URL(fileURLWithPath: candidate).standardizedFileURL.path
    }
    fail("no release build of aegis found; run `swift build -c release` first or pass --aegis PATH")
}

/// A fresh working directory (`--dir PATH`, or one under the temporary directory).
public func benchDirectory(_ name: String) -> String {
    let root = option("--dir") ?? FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
    try? FileManager.default.removeItem(atPath: root)
    do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
        fail("cannot create \(root): \(error)")
    }
    return root
}

/// Loopback ports free at the moment of asking.
public func freePorts(_ count: Int) -> [Int] {
    var sockets: [Int32] = []
    var ports: [Int] = []
    for _ in 0..<count {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, size) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &size) } }
        sockets.append(descriptor)
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    for socket in sockets { close(socket) }
    return ports
}

/// Starts `path` with its output going to `log`.
public func launch(_ path: String, _ arguments: [String], log: String) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    FileManager.default.createFile(atPath: log, contents: nil)
    let handle = FileHandle(forWritingAtPath: log)!
    process.standardOutput = handle
    process.standardError = handle
    do { try process.run() } catch { fail("cannot start \(path): \(error)") }
    return process
}

public func stop(_ processes: [Process]) {
    for process in processes where process.isRunning { process.terminate() }
    for process in processes { process.waitUntilExit() }
}

/// HTTP/1 keep-alive calls through one pooled client.
public final class BenchHTTP: Sendable {
    let client: HTTPClient

    public init(connections: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        configuration.timeout.connect = .seconds(2)
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func request(_ method: HTTPMethod, _ url: String, body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let buffer = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), Data(buffer: buffer))
    }

    public func shutdown() async {
        try? await client.shutdown()
    }
}

public func json(_ data: Data) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
}

/// Polls `condition` every 100 ms until it answers, for at most `seconds`.
public func waitFor<Answer>(_ what: String, seconds: Double = 30, logs: String, _ condition: () async -> Answer?) async -> Answer {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let answer = await condition() { return answer }
        try? await Task.sleep(for: .milliseconds(100))
    }
    fail("timed out waiting for \(what); see the logs in \(logs)")
}

public func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.down)))]
}

public func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}
