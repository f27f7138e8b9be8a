import Foundation
import ParleyBench
import ParleyServer
import ParleyTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `parley bench --idle`: holds every member until a message posted by someone else reaches each one.
@Suite struct IdleRunnerTests {
    @Test(.timeLimit(.minutes(1))) func everyIdleMemberReceivesABroadcastPostedOverHTTP() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let port = server.port
            var shape = BenchPlan(endpoint: try BenchEndpoint(parsing: "http://127.0.0.1:\(port)"), rooms: 2, membersPerRoom: 3)
            shape.joinTimeout = .seconds(10)
            let plan = shape
            let (ready, readied) = AsyncStream.makeStream(of: Int.self)
            let report = try await withThrowingTaskGroup(of: IdleRunner.Report?.self) { group in
                group.addTask {
                    await IdleRunner(plan: plan, hold: .seconds(20), logger: .quiet).run { readied.yield($0) }
                }
                group.addTask {
                    for await joined in ready {
                        #expect(joined == 6)
                        for room in 0..<plan.rooms {
                            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/rooms/\(plan.roomCode(room))/messages")!)
                            request.httpMethod = "POST"
                            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                            request.httpBody = Data(#"{"nick":"announcer","text":"hello everyone"}"#.utf8)
                            let (_, response) = try await URLSession.shared.data(for: request)
                            #expect((response as? HTTPURLResponse)?.statusCode == 201)
                        }
                        return nil
                    }
                    return nil
                }
                var report: IdleRunner.Report?
                for try await result in group {
                    if let result {
                        report = result
                        readied.finish()
                    }
                }
                return report
            }
            let idle = try #require(report)
            #expect(idle.joined == 6)
            #expect(idle.received == 6)
            #expect(idle.failed == 0)
            #expect(idle.isComplete)
        }
    }

    @Test(.timeLimit(.minutes(1))) func withoutABroadcastTheRunEndsIncomplete() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let port = server.port
            var plan = BenchPlan(endpoint: try BenchEndpoint(parsing: "http://127.0.0.1:\(port)"), rooms: 1, membersPerRoom: 2)
            plan.joinTimeout = .seconds(10)
            let report = await IdleRunner(plan: plan, hold: .milliseconds(500), logger: .quiet).run { _ in }
            #expect(report.joined == 2)
            #expect(report.received == 0)
            #expect(!report.isComplete)
        }
    }
}
