import Aegis

/// The trace file format, version 1. Line oriented so `diff` and `grep` work:
///
///     aegis-trace 1
///     scenario-file Scenarios/smoke.yaml
///     seed 42
///     build aegis 0.1.0 release exe:0123456789abcdef
///     mutations none
///     option network.loss 0.0312
///     ...
///     scenario-begin
///     | name: smoke
///     | ...
///     scenario-end
///     events
///     0 0.000000000 - run.start 0123456789abcdef servers=3 clients=3
///     ...
///     end steps=N hash=0123456789abcdef outcome=pass
///
/// The scenario's own text is embedded, so a replay needs nothing but the trace.
public struct TraceFile: Equatable, Sendable {
    public static let formatVersion = 1

    public var scenarioFile: String
    public var seed: UInt64
    public var build: String
    public var mutations: [String]
    public var options: [(key: String, value: String)]
    public var scenarioText: String
    public var events: [String]
    public var stepCount: UInt64
    public var finalHash: UInt64
    public var outcome: String

    public init(
        scenarioFile: String, seed: UInt64, build: String, mutations: [String],
        options: [(key: String, value: String)], scenarioText: String, events: [String],
        stepCount: UInt64, finalHash: UInt64, outcome: String
    ) {
        self.scenarioFile = scenarioFile
        self.seed = seed
        self.build = build
        self.mutations = mutations
        self.options = options
        self.scenarioText = scenarioText
        self.events = events
        self.stepCount = stepCount
        self.finalHash = finalHash
        self.outcome = outcome
    }

    public static func == (lhs: TraceFile, rhs: TraceFile) -> Bool {
        lhs.render() == rhs.render()
    }

    public func render() -> String {
        var text = "aegis-trace \(TraceFile.formatVersion)\n"
        text += "scenario-file \(scenarioFile)\n"
        text += "seed \(seed)\n"
        text += "build \(build)\n"
        text += "mutations \(mutations.isEmpty ? "none" : mutations.joined(separator: ","))\n"
        for option in options {
            text += "option \(option.key) \(option.value)\n"
        }
        text += "scenario-begin\n"
        for line in scenarioText.split(separator: "\n", omittingEmptySubsequences: false) {
            text += "| \(line)\n"
        }
        text += "scenario-end\n"
        text += "events\n"
        for event in events {
            text += event + "\n"
        }
        text += "end steps=\(stepCount) hash=\(finalHash.hex16) outcome=\(outcome)\n"
        return text
    }

    /// Parses a trace, naming the line and field of the first thing wrong.
    public static func parse(text: String, file: String) throws(InputError) -> TraceFile {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var cursor = 0

        func fail(_ field: String, _ message: String) -> InputError {
            InputError(file: file, line: cursor + 1, field: field, message: message)
        }
        func expectKey(_ key: String) throws(InputError) -> String {
            guard cursor < lines.count else {
                throw InputError(file: file, line: lines.count, field: key, message: "is missing; the trace ends early (was it cut short?)")
            }
            let line = lines[cursor]
            guard line == key || line.hasPrefix(key + " ") else {
                throw fail(key, "expected a line starting with '\(key)', found '\(line.prefix(60))'")
            }
            return line == key ? "" : String(line.dropFirst(key.count + 1))
        }

        let version = try expectKey("aegis-trace")
        guard version == String(formatVersion) else {
            throw fail("aegis-trace", "format version '\(version)' is not supported; this build reads version \(formatVersion)")
        }
        cursor += 1
        let scenarioFile = try expectKey("scenario-file")
        cursor += 1
        let seedText = try expectKey("seed")
        guard let seed = UInt64(seedText) else { throw fail("seed", "'\(seedText)' is not a whole number") }
        cursor += 1
        let build = try expectKey("build")
        cursor += 1
        let mutationText = try expectKey("mutations")
        let mutations = mutationText == "none" ? [] : mutationText.split(separator: ",").map(String.init)
        cursor += 1
        var options: [(key: String, value: String)] = []
        while cursor < lines.count, lines[cursor].hasPrefix("option ") {
            let parts = lines[cursor].split(separator: " ", maxSplits: 2)
            guard parts.count == 3 else { throw fail("option", "must be 'option KEY VALUE'") }
            options.append((String(parts[1]), String(parts[2])))
            cursor += 1
        }
        _ = try expectKey("scenario-begin")
        cursor += 1
        var scenarioLines: [String] = []
        while cursor < lines.count, lines[cursor] != "scenario-end" {
            let line = lines[cursor]
            guard line == "|" || line.hasPrefix("| ") else {
                throw fail("scenario", "embedded scenario lines must start with '| '")
            }
            scenarioLines.append(line == "|" ? "" : String(line.dropFirst(2)))
            cursor += 1
        }
        _ = try expectKey("scenario-end")
        cursor += 1
        _ = try expectKey("events")
        cursor += 1
        var events: [String] = []
        while cursor < lines.count, !lines[cursor].hasPrefix("end ") {
            events.append(lines[cursor])
            cursor += 1
        }
        let endText = try expectKey("end")
        var fields: [String: String] = [:]
        for part in endText.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let stepsText = fields["steps"], let steps = UInt64(stepsText) else {
            throw fail("end.steps", "must be 'steps=N' with a whole number")
        }
        guard let hashText = fields["hash"], hashText.count == 16, let hash = UInt64(hashText, radix: 16) else {
            throw fail("end.hash", "must be 'hash=' and sixteen hex digits")
        }
        guard let outcome = fields["outcome"] else { throw fail("end.outcome", "is missing") }
        cursor += 1
        guard cursor == lines.count else { throw fail("end", "nothing may follow the end line") }
        return TraceFile(
            scenarioFile: scenarioFile, seed: seed, build: build, mutations: mutations, options: options,
            scenarioText: scenarioLines.joined(separator: "\n"), events: events, stepCount: steps,
            finalHash: hash, outcome: outcome)
    }
}
