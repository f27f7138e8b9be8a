import Testing

@testable import parley

/// `parley bench --failover`: its options.
@Suite struct BenchFailoverCommandTests {
    @Test func failoverDefaults() throws {
        let bench = try Bench.parse(["ws://a:1", "ws://b:2", "--failover", "--fault-command", "kill -9 1"])
        #expect(bench.failover && bench.faultCommand == "kill -9 1" && bench.faultAt == 3 && bench.urls.count == 2)
    }

    @Test(arguments: [
        (["--failover", "--storm", "--restart-command", "true"], "--failover excludes --idle and --storm"),
        (["--failover", "--idle"], "--failover excludes --idle and --storm"),
        (["--failover", "--window", "4"], "--failover is open loop: give --rate, not --window"),
        (["--failover", "--fault-at", "9", "--duration", "8"], "--fault-at must be at least 0 and below --duration"),
    ])
    func badFailoverOptionsAreRefused(options: [String], message: String) {
        let arguments = ["ws://127.0.0.1:1"] + options
        #expect(refusal(Bench.self, arguments)?.contains(message) == true, "\(arguments)")
    }

    @Test(.timeLimit(.minutes(1))) func theFaultCommandNamesItselfInItsErrors() async throws {
        await #expect {
            try await RestartCommand(command: "exit 2", limit: .seconds(10), name: "fault command").run()
        } throws: { "\($0)" == "the fault command exited with status 2" }
    }
}
