import Foundation
import ParleyBench
import ParleyServer
import ParleyTestSupport
import Testing

/// `parley bench` end to end: against the real server it sees every delivery in order; against servers that
/// get ids wrong it reports exactly what they did.
@Suite struct BenchRunnerTests {
    private func plan(port: Int, rooms: Int, members: Int, load: BenchPlan.Load) throws -> BenchPlan {
        var plan = BenchPlan(endpoint: try BenchEndpoint(parsing: "http://127.0.0.1:\(port)"), rooms: rooms, membersPerRoom: members)
        plan.load = load
        plan.warmup = .milliseconds(200)
        // Long enough for a publisher whose task is slow to be scheduled: with every suite running at once on
        // two CPUs, a publisher was seen to start after a window of 0.8 s had ended, and sent nothing.
        plan.duration = .seconds(3)
        plan.drain = .seconds(5)
        plan.joinTimeout = .seconds(10)
        return plan
    }

    @Test(.timeLimit(.minutes(1)), arguments: [BenchPlan.Load.window(4), .rate(300)])
    func parleyDeliversEveryMessageInOrder(load: BenchPlan.Load) async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let port = server.port
            var plan = try plan(port: port, rooms: 3, members: 4, load: load)
            plan.publishersPerRoom = 2
            let report = try await BenchRunner(plan: plan, logger: .quiet).run()
            #expect(report.completed)
            #expect(report.sent > 0)
            #expect(report.received > 0)
            #expect(report.deliveriesPerSecond > 0)
            #expect(report.expected == report.sent * 4)
            #expect(report.lost == 0)
            #expect(report.gaps == 0 && report.duplicates == 0 && report.reorders == 0)
            #expect(report.anomalies.isEmpty)
            #expect(report.latency.count == UInt64(report.received))
            #expect(report.serverErrors == 0 && report.connectionErrors == 0)
            #expect(report.isClean)
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: BrokenServer.Fault.allCases)
    func aBrokenServerIsCaught(fault: BrokenServer.Fault) async throws {
        try await BrokenServer.run(fault) { port in
            let plan = try plan(port: port, rooms: 1, members: 3, load: .window(4))
            let report = try await BenchRunner(plan: plan, logger: .quiet).run()
            #expect(report.completed)
            #expect(report.lost == 0)
            #expect(!report.isClean)
            let kinds = Set(report.anomalies.map(\.kind))
            let faulty = Int64(BrokenServer.faultyMessage)
            switch fault {
            case .skipsAnID:
                #expect((report.gaps, report.missingIDs, report.duplicates, report.reorders) == (3, 3, 0, 0))
                #expect(kinds == [.gap])
                #expect(report.anomalies.allSatisfy { ($0.expected, $0.got, $0.missing) == (faulty, faulty + 1, 1) })
            case .repeatsAnID:
                #expect((report.gaps, report.duplicates, report.reorders) == (0, 3, 0))
                #expect(kinds == [.duplicate])
                #expect(report.anomalies.allSatisfy { ($0.expected, $0.got) == (faulty, faulty - 1) })
            case .swapsTwoIDs:
                #expect((report.gaps, report.duplicates, report.reorders) == (0, 0, 3))
                #expect(kinds == [.reorder])
                #expect(report.anomalies.allSatisfy { ($0.expected, $0.got) == (faulty + 2, faulty) })
            }
            #expect(Set(report.anomalies.map(\.member)) == [0, 1, 2])
            let first = try #require(report.anomalies.first)
            #expect(report.text.contains("room \(first.room) member m\(first.member): expected id \(first.expected), got \(first.got)"))
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
            #expect((json?["anomalies"] as? [Any])?.count == report.anomalies.count)
            #expect(json?["deliveries_per_s"] != nil && json?["latency"] != nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func membersWithoutWelcomeTimeOut() async throws {
        try await BrokenServer.run(.skipsAnID, welcomes: false) { port in
            var plan = try plan(port: port, rooms: 2, members: 2, load: .window(1))
            plan.joinTimeout = .milliseconds(500)
            await #expect(throws: BenchError(kind: .joinFailed, message: "only 0 of 4 members joined within 0.5 seconds")) {
                _ = try await BenchRunner(plan: plan, logger: .quiet).run()
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anUnreachableServerFailsToJoin() async throws {
        var plan = try plan(port: 1, rooms: 1, members: 2, load: .window(1))
        plan.joinTimeout = .seconds(5)
        await #expect(throws: BenchError.self) {
            _ = try await BenchRunner(plan: plan, logger: .quiet).run()
        }
    }
}
