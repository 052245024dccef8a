import ArgumentParser
import Dispatch
import Sim
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct SimSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run one scenario over a range of seeds and report every failure.",
        discussion: """
            Runs whole simulations side by side (--jobs), each seed independent, and \
            prints a table: seeds run, failures each with the exact command that \
            reproduces it, simulated time over wall time, and events per second. Traces \
            of the first failures are written to --trace-dir.

            For a scenario that expects a violation (a planted bug), the sweep reports \
            how many seeds caught it and succeeds when at least one did.

            --shard I/N runs only the seeds whose position in the range is I-1 modulo N, \
            so N machines can split one sweep.

            Example:  aegis sim sweep Scenarios/partitions.yaml --seeds 1..1000 --jobs 2
            """
    )

    @Argument(help: "The scenario file, e.g. Scenarios/smoke.yaml.")
    var scenario: String

    @Option(help: ArgumentHelp("The seeds to run, inclusive, as A..B (or one seed).", valueName: "A..B"))
    var seeds: String

    @Option(help: "How many simulations run at once (default: the number of cores).")
    var jobs: Int?

    @Option(help: ArgumentHelp("Run only shard I of N (1-based), to split a sweep over machines.", valueName: "I/N"))
    var shard: String?

    @Option(name: .customLong("mutation"),
        help: ArgumentHelp("Plant a known bug in every seed (repeatable): \(mutationNames).", valueName: "name"))
    var mutations: [String] = []

    @Option(help: "Where traces of failing seeds are written.")
    var traceDir = "Traces/new"

    @Option(help: "Write traces for at most this many failing seeds.")
    var tracesMax = 5

    func run() throws {
        let scenarioValue = try CLIFiles.loadScenario(scenario)
        let mutationValues = try parseMutations(mutations)
        let scenarioFile = scenario
        let range = try parseSeedRange(seeds)
        let (shardIndex, shardCount) = try parseShard(shard)
        let jobCount = try validJobs()
        let chosen = range.enumerated().filter { $0.offset % shardCount == shardIndex - 1 }.map(\.element)
        let request: @Sendable (UInt64) -> RunRequest = { seed in
            RunRequest(scenarioFile: scenarioFile, scenario: scenarioValue, seed: seed,
                mutations: mutationValues, build: CLIFiles.buildIdentity)
        }

        print("sweep     \(scenarioValue.name) (\(scenario))  expect \(scenarioValue.expect.rawValue)")
        print("seeds     \(range.lowerBound)..\(range.upperBound), shard \(shardIndex)/\(shardCount): \(chosen.count) seeds on \(jobCount) jobs")
        let clock = ContinuousClock()
        let started = clock.now
        let results = runAll(chosen, jobs: jobCount, request: request)
        let wall = (clock.now - started).seconds

        let expected: Outcome = switch scenarioValue.expect {
        case .pass: .pass
        case .safetyViolation: .safetyViolation
        case .livenessViolation: .livenessViolation
        }
        let failures = results.filter { $0.result.outcome != expected }
        let simulated = Double(results.reduce(UInt64(0)) { $0 + $1.result.simulatedNanoseconds }) / 1e9
        let events = results.reduce(UInt64(0)) { $0 + $1.result.steps }

        var code = AegisExitCode.passed
        if expected == .pass {
            print("passed    \(results.count - failures.count)")
            print("failed    \(failures.count)")
            for (index, failure) in failures.enumerated() {
                let first = failure.result.violations.first?.description ?? failure.result.outcome.rawValue
                print("  seed \(failure.seed)  \(failure.result.outcome.rawValue)  \(first)")
                print("    reproduce: \(request(failure.seed).reproduceCommand)")
                if index < tracesMax {
                    let path = "\(traceDir)/\(scenarioValue.name)-seed\(failure.seed).trace"
                    if let trace = Runner.run(request(failure.seed), recording: true).trace {
                        try CLIFiles.writeText(trace.render(), to: path)
                        print("    trace: \(path)")
                    }
                }
            }
            if failures.contains(where: { $0.result.outcome == .safetyViolation }) {
                code = AegisExitCode.safetyViolation
            } else if !failures.isEmpty {
                code = AegisExitCode.livenessViolation
            }
        } else {
            let caught = results.filter { $0.result.outcome == expected }
            if let first = caught.first {
                print("caught    \(caught.count) of \(results.count) seeds, first at seed \(first.seed)")
                print("  \(first.result.violations.first?.description ?? "")")
                print("    reproduce: \(request(first.seed).reproduceCommand)")
            } else {
                print("caught    0 of \(results.count) seeds: NOT CAUGHT; the checkers missed the planted bug")
                code = AegisExitCode.safetyViolation
            }
        }
        printCoverage(results)
        print("simulated \(formatSeconds(simulated)) in \(formatSeconds(wall)) wall: \(speedup(simulated, wall)) real time")
        print("events    \(events) in \(formatSeconds(wall)): \(Int((Double(events) / max(wall, 1e-9)).rounded())) events/s")
        if code != AegisExitCode.passed {
            throw CLIFailure(code: code, message: "")
        }
    }

    /// How often each rare path fired, and in how many seeds; "never" flags a path the
    /// scenario does not reach.
    private func printCoverage(_ results: [SeedResult]) {
        print("coverage  rare paths reached (times, seeds):")
        let width = CoverageProbe.allCases.map(\.name.count).max() ?? 0
        for probe in CoverageProbe.allCases {
            let times = results.reduce(0) { $0 + $1.result.coverage[probe] }
            let seeds = results.filter { $0.result.coverage[probe] > 0 }.count
            let figures = times == 0 ? "never" : "\(times) in \(seeds) seeds"
            print("  \(probe.name.padding(width))  \(figures)")
        }
    }

    private func validJobs() throws(CLIFailure) -> Int {
        let count = jobs ?? System.coreCount
        guard (1...256).contains(count) else { throw .badInput("--jobs must be between 1 and 256, not \(count)") }
        return count
    }

    struct SeedResult: Sendable {
        var seed: UInt64
        var result: RunResult
    }

    /// Runs every seed; whole simulations run side by side on worker threads, each
    /// simulation single-threaded and sharing nothing with the others.
    private func runAll(_ seeds: [UInt64], jobs: Int, request: @escaping @Sendable (UInt64) -> RunRequest) -> [SeedResult] {
        let next = Atomic<Int>(0)
        let results = Mutex<[SeedResult]>([])
        SweepCrashNote.install()
        DispatchQueue.concurrentPerform(iterations: min(jobs, max(seeds.count, 1))) { slot in
            defer { SweepCrashNote.idle(slot: slot) }
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < seeds.count else { return }
                SweepCrashNote.running(slot: slot, command: request(seeds[index]).reproduceCommand)
                let output = Runner.run(request(seeds[index]), recording: false)
                let result = SeedResult(seed: seeds[index], result: output.result)
                results.withLock { $0.append(result) }
            }
        }
        return results.withLock { $0 }.sorted { $0.seed < $1.seed }
    }
}

func parseSeedRange(_ text: String) throws(CLIFailure) -> ClosedRange<UInt64> {
    let parts = text.components(separatedBy: "..")
    if parts.count == 1, let seed = UInt64(parts[0]) {
        return seed...seed
    }
    guard parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]) else {
        throw .badInput("--seeds '\(text)' must be a range A..B of whole numbers, e.g. 1..1000")
    }
    guard low <= high else { throw .badInput("--seeds '\(text)' starts after it ends; write the smaller seed first") }
    guard high - low < 100_000_000 else { throw .badInput("--seeds '\(text)' spans more than 100000000 seeds; split it with --shard") }
    return low...high
}

func parseShard(_ text: String?) throws(CLIFailure) -> (Int, Int) {
    guard let text else { return (1, 1) }
    let parts = text.split(separator: "/")
    guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index) else {
        throw .badInput("--shard '\(text)' must be I/N with 1 <= I <= N, e.g. 2/4")
    }
    return (index, count)
}

enum System {
    static var coreCount: Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 2
        #endif
    }
}
