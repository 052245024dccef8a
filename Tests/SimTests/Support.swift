import Aegis
@testable import Sim

/// The package root, found from this file's path, for reading Scenarios/.
let packageRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

func scenario(_ yaml: String, file: String = "test.yaml") throws -> Scenario {
    try ScenarioParser.parse(text: yaml, file: file)
}

/// A probe-protocol scenario, from Scenarios/probe/.
func shippedScenario(_ name: String) throws -> Scenario {
    try scenarioFile("probe/\(name)")
}

/// Any shipped scenario, by its path under Scenarios/ without the extension.
func scenarioFile(_ name: String) throws -> Scenario {
    let path = "\(packageRoot)/Scenarios/\(name).yaml"
    return try ScenarioParser.parse(text: try readFile(path), file: "Scenarios/\(name).yaml")
}

/// Tests may read files; the simulator may not.
func readFile(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else { throw TestFileError(path: path) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

struct TestFileError: Error {
    var path: String
}

/// A bare simulation for poking at one piece of the world directly.
func bareSimulation(nodes: Int = 3, seed: UInt64 = 1) throws -> Simulation {
    let text = """
        name: bare
        topology: {nodes: \(nodes)}
        workload: {clients: 1, operations: 0, ack_quorum: 1}
        """
    return Simulation(scenario: try scenario(text), seed: seed)
}

func run(_ scenario: Scenario, seed: UInt64, mutations: [Mutation] = [], recording: Bool = false) -> RunOutput {
    Runner.run(
        RunRequest(scenarioFile: "test.yaml", scenario: scenario, seed: seed, mutations: mutations, build: "test"),
        recording: recording)
}

#if canImport(Glibc)
import Glibc
#endif
