import ArgumentParser
import Sim

struct SimReplay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-execute the run a trace records and check it is identical.",
        discussion: """
            The trace holds the scenario text, the seed and the mutations, so nothing \
            else is needed. The run is executed again and compared event by event with \
            the recorded lines; the answer is either

              reproduced: identical through step N (hash H)
              diverged at step N: expected LINE got LINE   (exit code 4)

            --from and --until limit the comparison (and the timeline) to a window of \
            steps; --node limits the printed timeline to one node; --verbose prints it.

            Example:  aegis sim replay Traces/new/smoke-seed42.trace --verbose --node n2
            """
    )

    @Argument(help: "The trace file, as written by `aegis sim run --trace`.")
    var trace: String

    @Option(help: "Compare from this step on (default 0).")
    var from: UInt64?

    @Option(help: "Compare up to and including this step (default: the last).")
    var until: UInt64?

    @Option(help: ArgumentHelp("Print only this node's events in the timeline (n2 or 2).", valueName: "id"))
    var node: String?

    @Flag(help: "Print the re-executed timeline of the window.")
    var verbose = false

    func run() throws {
        let text = try CLIFiles.readText(trace, what: "trace file")
        let traceFile: TraceFile
        do {
            traceFile = try TraceFile.parse(text: text, file: trace)
        } catch {
            throw CLIFailure.badInput(error.description)
        }
        let nodeFilter = try parseNode(node)
        if let from, let until, from > until {
            throw CLIFailure.badInput("--from \(from) is after --until \(until); give a window with from <= until")
        }
        print("replay    \(trace): seed \(traceFile.seed), \(traceFile.events.count) events, recorded outcome \(traceFile.outcome)")
        let build = CLIFiles.buildIdentity
        if traceFile.build != build {
            print("note      recorded by '\(traceFile.build)', replayed by '\(build)'; a divergence may come from the code change")
        }
        let window = ReplayRequest(fromStep: from ?? 0, untilStep: until)
        let low = from ?? 0
        let high = until ?? UInt64.max
        var echo: ((String) -> Void)?
        if verbose {
            var step: UInt64 = 0
            echo = { line in
                defer { step += 1 }
                guard step >= low, step <= high else { return }
                if let nodeFilter, TraceLine.node(of: line) != nodeFilter { return }
                print("  \(line)")
            }
        }
        let verdict: ReplayVerdict
        do {
            verdict = try Replayer.replay(traceFile, traceFile: trace, build: build, window: window, echo: echo)
        } catch {
            throw CLIFailure.badInput(error.description)
        }
        switch verdict {
        case let .reproduced(step, hash):
            print("reproduced: identical through step \(step) (hash \(String(hash, radix: 16).leftPadded(16)))")
        case let .diverged(step, expected, got):
            let place = step.map { "step \($0)" } ?? "the trace header or end"
            print("diverged at \(place):")
            print("  expected: \(expected)")
            print("  got:      \(got)")
            throw CLIFailure(code: AegisExitCode.replayDivergence, message: "")
        }
    }

    private func parseNode(_ text: String?) throws(CLIFailure) -> String? {
        guard let text else { return nil }
        let digits = text.hasPrefix("n") ? String(text.dropFirst()) : text
        guard let number = UInt32(digits), number > 0 else {
            throw .badInput("--node '\(text)' must be a node id such as n2 or 2")
        }
        return "n\(number)"
    }
}
