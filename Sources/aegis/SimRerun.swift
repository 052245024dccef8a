import Aegis
import ArgumentParser
import Sim

struct SimRerun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerun",
        abstract: "Run a trace's scenario, seed and mutations again with this build and judge it.",
        discussion: """
            For traces of failures that were found and fixed (Traces/regressions): the \
            fixed build takes a different path, so the events cannot match the recorded \
            ones, but the same scenario and seed must now pass. Prints the recorded and \
            the new outcome; the exit code is the new outcome's (0 passed, 1 safety \
            violation, 3 liveness violation).

            Example:  aegis sim rerun Traces/regressions/crashes-seed10-misaligned-frame-after-torn-copy.trace
            """
    )

    @Argument(help: "The trace file, as written by `aegis sim run --trace`.")
    var trace: String

    func run() throws {
        let text = try CLIFiles.readText(trace, what: "trace file")
        let traceFile: TraceFile
        let scenario: Scenario
        do {
            traceFile = try TraceFile.parse(text: text, file: trace)
            scenario = try ScenarioParser.parse(text: traceFile.scenarioText, file: "\(trace) (embedded scenario)")
        } catch {
            throw CLIFailure.badInput(error.description)
        }
        var mutations: [Mutation] = []
        for name in traceFile.mutations {
            guard let mutation = Mutation(rawValue: name) else {
                throw CLIFailure.badInput("\(trace): mutation '\(name)' is not one this build knows")
            }
            mutations.append(mutation)
        }
        let request = RunRequest(scenarioFile: traceFile.scenarioFile, scenario: scenario, seed: traceFile.seed,
            mutations: mutations, build: CLIFiles.buildIdentity)
        let result = Runner.run(request, recording: false).result
        print("rerun     \(trace): \(scenario.name) seed \(traceFile.seed), recorded outcome \(traceFile.outcome)")
        print("result    \(result.outcome.rawValue)")
        for violation in result.violations {
            print("  \(violation.description)")
        }
        print("work      \(result.summary)")
        if result.outcome != .pass {
            throw CLIFailure(code: result.outcome.exitCode, message: "")
        }
    }
}
