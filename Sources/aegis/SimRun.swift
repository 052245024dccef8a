import Aegis
import ArgumentParser
import Sim

struct SimRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one scenario with one seed and judge it.",
        discussion: """
            Prints the fault options the seed drew, runs the cluster through the \
            scenario's faults, then a liveness phase in which faults heal and all work \
            must finish within the scenario's bound, and prints the verdict.

            A failing run writes its trace (to --trace, or Traces/new/NAME-seedN.trace); \
            replay it with `aegis sim replay FILE`.

            Example:  aegis sim run Scenarios/crashes.yaml --seed 7 --trace crash7.trace
            """
    )

    @Argument(help: "The scenario file, e.g. Scenarios/smoke.yaml.")
    var scenario: String

    @Option(help: "The seed; every random choice of the run follows from it.")
    var seed: UInt64

    @Option(help: ArgumentHelp("Write the run's trace to this file, whatever the outcome.", valueName: "file"))
    var trace: String?

    @Option(name: .customLong("mutation"),
        help: ArgumentHelp("Plant a known bug, to see a checker catch it (repeatable): \(mutationNames).", valueName: "name"))
    var mutations: [String] = []

    @Option(help: ArgumentHelp(
        "Write the history as JSON lines, for outside checkers: the register workload's operations (process, type, f, key, value, time), or the sharded workloads' transactions (process, sequence, value, type, reads).",
        valueName: "file"))
    var history: String?

    @Flag(help: "Print every event of the run as it happens (the trace's timeline).")
    var verbose = false

    func run() throws {
        let request = RunRequest(
            scenarioFile: scenario, scenario: try CLIFiles.loadScenario(scenario), seed: seed,
            mutations: try parseMutations(mutations), build: CLIFiles.buildIdentity)
        if history != nil, request.scenario.workload.kind != .register, !request.scenario.workload.kind.isSharded {
            throw CLIFailure.badInput("--history needs a workload that keeps a history (kind: register, shard-bank or list-append); \(scenario) runs \(request.scenario.workload.kind.rawValue)")
        }
        printHeader(request)
        let clock = ContinuousClock()
        let started = clock.now
        let output = Runner.run(
            request, recording: trace != nil || verbose, echo: verbose ? { print("  \($0)") } : nil,
            keepHistory: history != nil)
        let elapsed = clock.now - started
        var tracePath = trace
        var traceFile = output.trace
        if output.result.outcome != .pass, tracePath == nil {
            tracePath = "Traces/new/\(request.scenario.name)-seed\(seed).trace"
            traceFile = Runner.run(request, recording: true).trace
        }
        if let tracePath, let traceFile {
            try CLIFiles.writeText(traceFile.render(), to: tracePath)
        }
        if let history {
            guard let lines = output.history else { preconditionFailure("a register or sharded run keeps a history") }
            try CLIFiles.writeText(lines.map { $0 + "\n" }.joined(), to: history, what: "the history")
        }
        printResult(output.result, request: request, wall: elapsed, tracePath: tracePath)
        if output.result.outcome != .pass {
            throw CLIFailure(code: output.result.outcome.exitCode, message: "")
        }
    }

    private func printHeader(_ request: RunRequest) {
        let mutationText = request.allMutations.isEmpty ? "" : "  mutations=\(request.allMutations.map(\.rawValue).joined(separator: ","))"
        print("scenario  \(request.scenario.name) (\(request.scenarioFile))  seed \(request.seed)\(mutationText)")
        print("options   drawn for this seed:")
        let options = FaultOptions(scenario: request.scenario, seed: request.seed)
        let width = options.listing.map(\.key.count).max() ?? 0
        for option in options.listing {
            print("  \(option.key.padding(width))  \(option.value)")
        }
    }

    private func printResult(_ result: RunResult, request: RunRequest, wall: Duration, tracePath: String?) {
        let wallSeconds = wall.seconds
        let simulatedSeconds = Double(result.simulatedNanoseconds) / 1e9
        print("result    \(result.outcome.rawValue)")
        for violation in result.violations {
            print("  \(violation.description)")
        }
        print("work      \(result.summary)")
        let fired = CoverageProbe.allCases.filter { result.coverage[$0] > 0 }
        if !fired.isEmpty {
            print("coverage  " + fired.map { "\($0.name) ×\(result.coverage[$0])" }.joined(separator: "\n          "))
        }
        print("run       \(result.steps) events, \(formatSeconds(simulatedSeconds)) simulated in \(formatSeconds(wallSeconds)) (\(speedup(simulatedSeconds, wallSeconds)) real time), hash \(String(result.finalHash, radix: 16).leftPadded(16))")
        if let tracePath {
            print("trace     \(tracePath)")
        }
        if let history {
            print("history   \(history)")
        }
        if result.outcome != .pass {
            print("reproduce \(request.reproduceCommand)")
        }
    }
}

let mutationNames = Mutation.allCases.map(\.rawValue).joined(separator: ", ")

struct SimMutations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mutations",
        abstract: "List the planted bugs that --mutation can switch on.",
        discussion: """
            Each planted bug is a deliberately wrong variant of engine or simulator code. \
            A checker is trusted only after it has caught its planted bug: \
            aegis sim sweep Scenarios/partitions.yaml --seeds 1..200 --mutation NAME
            """
    )

    func run() throws {
        let width = Mutation.allCases.map(\.rawValue.count).max() ?? 0
        for mutation in Mutation.allCases {
            print("\(mutation.rawValue.padding(width))  \(mutation.summary)")
        }
    }
}

func parseMutations(_ names: [String]) throws(CLIFailure) -> [Mutation] {
    var mutations: [Mutation] = []
    for name in names {
        guard let mutation = Mutation(rawValue: name) else {
            throw .badInput("--mutation '\(name)' is not a known mutation; use one of \(mutationNames)")
        }
        mutations.append(mutation)
    }
    return mutations
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

func formatSeconds(_ seconds: Double) -> String {
    "\(String(format3(seconds))) s"
}

func format3(_ value: Double) -> String {
    let scaled = (value * 1000).rounded()
    let whole = Int(scaled / 1000)
    let fraction = Int(scaled) - whole * 1000
    let fractionText = String(abs(fraction))
    return "\(whole).\(String(repeating: "0", count: 3 - fractionText.count))\(fractionText)"
}

func speedup(_ simulated: Double, _ wall: Double) -> String {
    guard wall > 0 else { return "∞x" }
    return "\(Int((simulated / wall).rounded()))x"
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
