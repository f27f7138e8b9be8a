import Testing

@testable import parley

/// `parley bench`'s options: what it accepts and what it refuses before opening a socket (exit 64).
@Suite struct BenchCommandTests {
    @Test func defaultsAndSeveralURLs() throws {
        let bench = try Bench.parse(["ws://a:1", "ws://b:2"])
        #expect(bench.urls == ["ws://a:1", "ws://b:2"])
        #expect(bench.rooms == 10 && bench.members == 10 && bench.publishers == 1)
        #expect(bench.rate == nil && bench.window == nil)
        #expect(bench.concurrency == 64 && !bench.idle && !bench.json)
        #expect(refusal(Bench.self, [])?.contains("Missing expected argument '<urls> ...'") == true)
    }

    @Test(arguments: [
        (["--rooms", "0"], "--rooms and --members must be at least 1"),
        (["--members", "0"], "--rooms and --members must be at least 1"),
        (["--members", "2", "--publishers", "3"], "--publishers must be between 1 and --members"),
        (["--publishers", "0"], "--publishers must be between 1 and --members"),
        (["--rate", "0"], "--rate must be above 0"),
        (["--window", "0"], "--window must be at least 1"),
        (["--rate", "10", "--window", "2"], "--rate (open loop) and --window (closed loop) exclude each other"),
        (["--duration", "0"], "--duration, --ack-timeout and --join-timeout must be above 0"),
        (["--warmup=-1"], "--warmup and --drain at least 0"),
        (["--drain=-1"], "--warmup and --drain at least 0"),
        (["--ack-timeout", "0"], "--duration, --ack-timeout and --join-timeout must be above 0"),
        (["--join-timeout", "0"], "--duration, --ack-timeout and --join-timeout must be above 0"),
        (["--size", "0"], "--size must be between 1 and 65536"),
        (["--size", "65537"], "--size must be between 1 and 65536"),
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--log-level", "loud"], "--log-level loud is not a level"),
    ])
    func badOptionsAreRefused(options: [String], message: String) {
        let arguments = ["ws://127.0.0.1:1"] + options
        #expect(refusal(Bench.self, arguments)?.contains(message) == true, "\(arguments)")
    }
}
