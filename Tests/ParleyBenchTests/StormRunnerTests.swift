import Foundation
import Logging
import ParleyBench
import ParleyServer
import ParleyTestSupport
import Synchronization
import Testing

/// `parley bench --storm` end to end: against the real server, restarted for real, every member comes back
/// with exactly what it missed; against a server that resumes wrongly, the storm reports what it did.
@Suite struct StormRunnerTests {
    private func plan(port: Int, rooms: Int, members: Int) throws -> BenchPlan {
        var plan = BenchPlan(endpoint: try BenchEndpoint(parsing: "http://127.0.0.1:\(port)"), rooms: rooms, membersPerRoom: members)
        plan.joinTimeout = .seconds(15)
        plan.drain = .seconds(5)
        plan.connectConcurrency = 64
        return plan
    }

    /// With several source addresses the dials bind to 127.0.0.1, .2 and .3 in turn.
    @Test(.timeLimit(.minutes(1)), arguments: [1, 3])
    func everyMemberOfARestartedParleyComesBackWithWhatItMissed(sourceAddresses: Int) async throws {
        let server = try RestartableParley()
        defer { server.remove() }
        let port = try await server.start()
        var plan = try plan(port: port, rooms: 3, members: 5)
        plan.sourceAddresses = sourceAddresses
        let report = await StormRunner(plan: plan, history: 10, missed: 4, logger: .quiet) {
            try await server.restart()
        }.run()
        await server.stop()
        #expect(report.firstError == nil)
        #expect(report.completed)
        #expect((report.joined, report.dropped, report.rejoined) == (15, 15, 15))
        #expect(report.caughtUpSeconds != nil && report.behind == 0)
        #expect((report.gaps, report.duplicates, report.reorders, report.lostNicks) == (0, 0, 0, 0))
        #expect(report.connectsPerSecond > 0)
        #expect(report.isClean)
    }

    @Test(
        .timeLimit(.minutes(1)),
        arguments: BrokenStormServer.Fault.allCases.filter { $0 != .losesTheLastMessageOfADeadNode && $0 != .closesAfterResume }
    )
    func aServerThatResumesWronglyIsCaught(fault: BrokenStormServer.Fault) async throws {
        try await BrokenStormServer.run(fault) { port, restart in
            let plan = try plan(port: port, rooms: 2, members: 3)
            let report = await StormRunner(plan: plan, history: 6, missed: 3, logger: .quiet) { await restart() }.run()
            #expect(report.completed)
            #expect(report.rejoined == 6)
            switch fault {
            case .none:
                #expect(report.isClean)
                #expect(report.anomalies.isEmpty)
            case .skipsAnIDInHistory:
                // Each member misses id 7, the first one posted while it was away, and never gets it.
                #expect((report.gaps, report.missingIDs, report.duplicates, report.lostNicks) == (6, 6, 0, 0))
                #expect(report.anomalies.allSatisfy { ($0.kind, $0.expected, $0.got, $0.missing) == (.gap, 7, 8, 1) })
            case .repeatsTheLastSeenID:
                #expect((report.gaps, report.duplicates, report.reorders, report.lostNicks) == (0, 6, 0, 0))
                #expect(report.anomalies.allSatisfy { ($0.kind, $0.expected, $0.got) == (.duplicate, 7, 6) })
            case .losesNicks:
                #expect((report.gaps, report.duplicates, report.lostNicks) == (0, 0, 6))
                let sample = try #require(report.lostNickSample?.firstMatch(of: /asked for (m\d), got (m\d)-2$/))
                #expect(sample.1 == sample.2)
            case .losesTheLastMessageOfADeadNode, .closesAfterResume:
                Issue.record("not a resume fault")
            }
            if fault != .none {
                #expect(report.hasFaults && !report.isClean)
                #expect(report.text.contains(fault == .losesNicks ? "nicks        6 lost" : "room \(plan.roomCode(0)) member m"))
            }
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
            #expect(json?["connects_per_s"] != nil && json?["all_back_s"] != nil && json?["lost_nicks"] as? Int == report.lostNicks)
        }
    }

    /// The server's close frame after a resume is in the report, read by the storm's own frame parser.
    @Test(.timeLimit(.minutes(1)))
    func aResumedMemberClosedByTheServerIsReportedWithTheCloseFrame() async throws {
        try await BrokenStormServer.run(.closesAfterResume) { port, restart in
            var plan = try plan(port: port, rooms: 1, members: 3)
            plan.drain = .seconds(1)
            let report = await StormRunner(plan: plan, history: 2, missed: 1, logger: .quiet) { await restart() }.run()
            #expect(report.closedAfterResume == 3 && report.behind == 3)
            #expect(
                report.firstError?.hasSuffix("closed by the server after resuming (policyViolation resume refused)") == true,
                "\(report.firstError ?? "")"
            )
            #expect(!report.isClean)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRestartThatClosesNothingIsReported() async throws {
        try await BrokenStormServer.run(.none) { port, _ in
            var plan = try plan(port: port, rooms: 1, members: 2)
            // Also how long the storm waits for the restart to close the connections; with every suite running at
            // once on two CPUs, one second was too short for the first joins.
            plan.joinTimeout = .seconds(5)
            let report = await StormRunner(plan: plan, history: 1, missed: 1, logger: .quiet) {}.run()
            #expect(!report.completed && !report.isClean)
            #expect(report.dropped == 0 && report.rejoined == 0)
            #expect(report.firstError == "the restart left 2 of 2 connections open")
        }
    }
}

/// A real Parley server on 127.0.0.1 with its own SQLite file and no rate limit, that a test can restart
/// on the same port (a graceful shutdown, then a new server on the same file).
final class RestartableParley: Sendable {
    private let directory: URL
    private let running = Mutex<(task: Task<Void, any Error>, port: Int)?>(nil)

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-storm-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Starts the server (on a free port the first time, then on the same one); returns the port.
    func start(port: Int = 0) async throws -> Int {
        var configuration = ServerConfiguration()
        configuration.port = port
        configuration.database = .sqliteFile(directory.appendingPathComponent("storm.sqlite").path)
        configuration.ratePerSecond = 0
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = try await buildApplication(configuration: configuration, logger: .quiet) { port in portSink.yield(port) }
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        running.withLock { $0 = (task, bound) }
        return bound
    }

    /// Stops the server and waits until it has.
    func stop() async {
        guard let (task, _) = running.withLock({ $0 }) else { return }
        task.cancel()
        _ = await task.result
    }

    func restart() async throws {
        guard let port = running.withLock({ $0?.port }) else { return }
        await stop()
        _ = try await start(port: port)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
