import Aegis

/// What to run: a scenario's text (the CLI reads the file), a seed, planted bugs.
public struct RunRequest: Sendable {
    public var scenarioFile: String
    public var scenario: Scenario
    public var seed: UInt64
    public var mutations: [Mutation]
    /// Who made the trace: program version and a digest of the executable.
    public var build: String

    public init(scenarioFile: String, scenario: Scenario, seed: UInt64, mutations: [Mutation], build: String) {
        self.scenarioFile = scenarioFile
        self.scenario = scenario
        self.seed = seed
        self.mutations = mutations
        self.build = build
    }

    /// The mutations of the scenario and of the request together, each once, in a fixed order.
    public var allMutations: [Mutation] {
        Mutation.allCases.filter { mutations.contains($0) || scenario.mutations.contains($0.rawValue) }
    }

    /// The command that reproduces this run.
    public var reproduceCommand: String {
        var command = "aegis sim run \(scenarioFile) --seed \(seed)"
        for mutation in mutations { command += " --mutation \(mutation.rawValue)" }
        return command
    }
}

public enum Runner {
    /// Runs once. With `recording`, the returned trace holds every event line.
    public static func run(
        _ request: RunRequest, recording: Bool, echo: ((String) -> Void)? = nil, captureAtStep: UInt64? = nil,
        keepHistory: Bool = false
    ) -> RunOutput {
        let simulation = Simulation(
            scenario: request.scenario, seed: request.seed, mutations: request.allMutations,
            recording: recording, echo: echo)
        simulation.trace.captureAtStep = captureAtStep
        let result = simulation.run()
        var trace: TraceFile?
        if recording, let lines = simulation.trace.lines {
            trace = TraceFile(
                scenarioFile: request.scenarioFile, seed: request.seed, build: request.build,
                mutations: request.allMutations.map(\.rawValue), options: simulation.options.listing,
                scenarioText: request.scenario.sourceText, events: lines, stepCount: result.steps,
                finalHash: result.finalHash, outcome: result.outcome.rawValue)
        }
        return RunOutput(
            result: result, trace: trace, options: simulation.options, capturedHash: simulation.trace.capturedHash,
            history: keepHistory ? simulation.historyLines : nil)
    }
}

public struct RunOutput {
    public var result: RunResult
    public var trace: TraceFile?
    public var options: FaultOptions
    /// The running hash after the step asked for with `captureAtStep`.
    public var capturedHash: UInt64?
    /// The register history as JSON lines, when asked for and the workload keeps one.
    public var history: [String]?
}

/// The answer of a replay.
public enum ReplayVerdict: Equatable, Sendable {
    case reproduced(throughStep: UInt64, hash: UInt64)
    case diverged(step: UInt64?, expected: String, got: String)
}

public struct ReplayRequest: Sendable {
    public var fromStep: UInt64 = 0
    public var untilStep: UInt64?
    public init(fromStep: UInt64 = 0, untilStep: UInt64? = nil) {
        self.fromStep = fromStep
        self.untilStep = untilStep
    }
}

public enum Replayer {
    /// Re-executes the run a trace describes and compares it, line by line, with the
    /// recorded events in the window [from, until]. `echo` sees each re-executed line.
    public static func replay(
        _ trace: TraceFile, traceFile: String, build: String, window: ReplayRequest,
        echo: ((String) -> Void)? = nil
    ) throws(InputError) -> ReplayVerdict {
        let scenario = try ScenarioParser.parse(text: trace.scenarioText, file: "\(traceFile) (embedded scenario)")
        var mutations: [Mutation] = []
        for name in trace.mutations {
            guard let mutation = Mutation(rawValue: name) else {
                throw InputError(file: traceFile, line: 5, field: "mutations", message: "'\(name)' is not a mutation this build knows")
            }
            mutations.append(mutation)
        }
        let request = RunRequest(
            scenarioFile: trace.scenarioFile, scenario: scenario, seed: trace.seed, mutations: mutations, build: build)
        guard !trace.events.isEmpty else {
            throw InputError(file: traceFile, line: nil, field: "events",
                message: "the trace has no event lines; record it again with aegis sim run --trace")
        }
        let lastStep = UInt64(trace.events.count - 1)
        let until = min(window.untilStep ?? lastStep, lastStep)
        let output = Runner.run(request, recording: true, echo: echo, captureAtStep: until)
        guard let replayed = output.trace else { preconditionFailure("a recording run returns its trace") }
        let result = output.result
        let options = output.options

        let expectedOptions = trace.options.map { "\($0.key) \($0.value)" }
        let gotOptions = options.listing.map { "\($0.key) \($0.value)" }
        for (expected, got) in zip(expectedOptions, gotOptions) where expected != got {
            return .diverged(step: nil, expected: "option \(expected)", got: "option \(got)")
        }
        if expectedOptions.count != gotOptions.count {
            return .diverged(step: nil, expected: "\(expectedOptions.count) options", got: "\(gotOptions.count) options")
        }
        guard window.fromStep <= until else {
            throw InputError(file: traceFile, line: nil, field: "--from",
                message: "step \(window.fromStep) is past the last compared step \(until); the trace has \(trace.events.count) events")
        }
        for step in window.fromStep...until {
            let index = Int(step)
            let expected = trace.events[index]
            guard index < replayed.events.count else {
                return .diverged(step: step, expected: expected, got: "(the run ended after \(replayed.events.count) events)")
            }
            if replayed.events[index] != expected {
                return .diverged(step: step, expected: expected, got: replayed.events[index])
            }
        }
        let complete = window.untilStep == nil || window.untilStep! >= lastStep
        if complete {
            if replayed.events.count > trace.events.count {
                return .diverged(step: UInt64(trace.events.count), expected: "(end of the recorded events)",
                    got: replayed.events[trace.events.count])
            }
            if result.finalHash != trace.finalHash || result.steps != trace.stepCount {
                return .diverged(step: nil, expected: "end steps=\(trace.stepCount) hash=\(trace.finalHash.hex16)",
                    got: "end steps=\(result.steps) hash=\(result.finalHash.hex16)")
            }
            if result.outcome.rawValue != trace.outcome {
                return .diverged(step: nil, expected: "outcome=\(trace.outcome)", got: "outcome=\(result.outcome.rawValue)")
            }
            return .reproduced(throughStep: until, hash: result.finalHash)
        }
        return .reproduced(throughStep: until, hash: output.capturedHash ?? result.finalHash)
    }
}
