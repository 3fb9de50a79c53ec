import ArgumentParser
import LinuxSys
import Proxy
import TLS

/// The `weft` command: argument parsing and wiring only; every capability lives in a library target.
@main
struct Weft: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weft",
        abstract: "A sidecar service-mesh data plane for Linux.",
        subcommands: [InitCommand.self, ProxyCommand.self, WaitCommand.self, DrainCommand.self, StatusCommand.self, CheckCommand.self, CACommand.self, VersionCommand.self]
    )

    /// ArgumentParser exits 64 (EX_USAGE) on bad arguments; Weft's contract is 2 for usage and
    /// configuration errors (DESIGN.md), so parsing failures are mapped here.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success || code.rawValue == ExitStatus.ok.rawValue {
                exit(withError: error) // --help, --version: printed by ArgumentParser, exit 0
            }
            if let status = error as? ExitCode {
                exit(withError: status) // already reported by the command
            }
            let message = fullMessage(for: error)
            Descriptor.standardError.writeAll(message.hasSuffix("\n") ? message : message + "\n")
            exit(withError: ExitCode(ExitStatus.usage.rawValue))
        }
    }
}

/// Exit codes of DESIGN.md's command-line contract.
enum ExitStatus: Int32 {
    /// Success.
    case ok = 0
    /// A runtime failure (the kernel refused a valid ruleset, a listener could not bind, ...).
    case runtime = 1
    /// Bad usage or invalid configuration.
    case usage = 2
    /// Missing privilege (CAP_NET_ADMIN) or kernel support (nf_tables).
    case unsupported = 3
}

/// Prints `weft <command>: <message>` on standard error and exits with `status`.
/// Messages say what went wrong, where, and what to do about it.
func fail(_ command: String, _ status: ExitStatus, _ message: String) -> Never {
    Descriptor.standardError.writeAll("weft \(command): \(message)\n")
    Weft.exit(withError: ExitCode(status.rawValue))
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print Weft's version.")

    func run() {
        print("weft \(weftVersion)")
        // Release builds carry OpenSSL inside the binary (Package.swift); say which one.
        print("\(OpenSSLBuild.version) (\(OpenSSLBuild.sharedLibrary.map { "shared library \($0)" } ?? "linked into weft"))")
    }
}
