import Testing

@testable import parley

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `parley bench --storm`: its options, and the restart command it runs between the two connections.
@Suite struct BenchStormCommandTests {
    @Test func stormDefaults() throws {
        let bench = try Bench.parse(["ws://a:1", "--storm", "--restart-command", "true"])
        #expect(bench.storm && bench.restartCommand == "true")
        #expect(bench.history == 20 && bench.missed == 5 && bench.concurrency == 64)
    }

    @Test(arguments: [
        (["--storm"], "--storm needs --restart-command"),
        (["--storm", "--idle", "--restart-command", "true"], "--storm and --idle exclude each other"),
        (["--storm", "--restart-command", "true", "--history=-1"], "--history and --missed must be at least 0"),
        (["--storm", "--restart-command", "true", "--missed=-1"], "--history and --missed must be at least 0"),
        (["--storm", "--restart-command", "true", "--source-addresses", "0"], "--source-addresses must be between 1 and 254"),
        (["--source-addresses", "2"], "--source-addresses is for --storm"),
    ])
    func badStormOptionsAreRefused(options: [String], message: String) {
        let arguments = ["ws://127.0.0.1:1"] + options
        #expect(refusal(Bench.self, arguments)?.contains(message) == true, "\(arguments)")
    }

    @Test(.timeLimit(.minutes(1))) func theRestartCommandsExitStatusCounts() async throws {
        try await RestartCommand(command: "exit 0", limit: .seconds(10)).run()
        await #expect {
            try await RestartCommand(command: "exit 3", limit: .seconds(10)).run()
        } throws: { "\($0)" == "the restart command exited with status 3" }
    }

    @Test(.timeLimit(.minutes(1))) func aRestartCommandThatHangsIsStopped() async throws {
        let start = ContinuousClock.now
        await #expect {
            try await RestartCommand(command: "sleep 30", limit: .milliseconds(300)).run()
        } throws: { "\($0)".hasPrefix("the restart command was stopped by signal 15") }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    /// The server it starts in the background outlives it: only the command itself is waited for.
    @Test(.timeLimit(.minutes(1))) func aServerLeftRunningInTheBackgroundIsNotWaitedFor() async throws {
        let start = ContinuousClock.now
        try await RestartCommand(command: "sleep 12 >/dev/null 2>&1 & echo $! >/dev/null", limit: .seconds(30)).run()
        #expect(ContinuousClock.now - start < .seconds(8))
    }

    /// The WebSocket client's sockets are inheritable; the restarted server must not get them.
    @Test(.timeLimit(.minutes(1))) func theCommandInheritsNoDescriptorOfOurs() async throws {
        let descriptor = open("/dev/null", O_RDONLY)
        try #require(descriptor > 2)
        defer { close(descriptor) }
        try await RestartCommand(command: "[ ! -e /proc/self/fd/\(descriptor) ]", limit: .seconds(10)).run()
    }
}
