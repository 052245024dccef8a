import ArgumentParser
import Sim

#if canImport(Glibc)
import Glibc
#endif

@main
struct AegisCommand: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "aegis",
        abstract: "Aegis: a deterministic, simulation-tested multi-model database.",
        discussion: """
            Every engine line runs against abstract clock, disk and network doors, so a \
            seeded simulator can drive whole clusters through partitions, crashes, torn \
            writes, corrupt sectors and clock skew, and replay any run bit for bit.

            Start with:  aegis server                  (a single node on 127.0.0.1:9090)
                         aegis sim run Scenarios/smoke.yaml --seed 42
            Exit codes:  sim: 0 passed, 1 safety violation, 2 bad input, 3 liveness
                         violation, 4 replay divergence.
                         live commands: 0 done, 1 the server refused or failed the
                         request, 2 bad input, 5 no node could be reached.
            """,
        version: version,
        subcommands: [ServerCommand.self, SQLCommand.self, KVCommand.self, StatusCommand.self, ClusterCommand.self, SimCommand.self]
    )

    /// Parses and runs, mapping every failure to one of the documented exit codes:
    /// usage mistakes and unreadable files are bad input (2), never a stack trace.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let failure as CLIFailure {
            if !failure.message.isEmpty { printError(failure.message) }
            Glibc.exit(failure.code)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            printError(fullMessage(for: error))
            Glibc.exit(AegisExitCode.badInput)
        }
    }
}

/// A failure the CLI reports in one line with its exit code.
struct CLIFailure: Error {
    var code: Int32
    var message: String

    static func badInput(_ message: String) -> CLIFailure {
        CLIFailure(code: AegisExitCode.badInput, message: message)
    }
}

func printError(_ message: String) {
    var standardError = StandardError()
    print("error: \(message)", to: &standardError)
}

enum FileDescriptorOutput {
    static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            guard written > 0 else { return }
            offset += written
        }
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ text: String) {
        FileDescriptorOutput.write(text, to: 2)
    }
}

struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run, sweep and replay seeded simulations of an Aegis cluster.",
        discussion: """
            A scenario (Scenarios/*.yaml) names the topology, workload, fault ranges, \
            scheduled faults, checks and the expected outcome. A seed picks every random \
            choice: the same scenario and seed always give the same run, event for event.
            """,
        subcommands: [SimRun.self, SimSweep.self, SimReplay.self, SimRerun.self, SimMutations.self]
    )
}
