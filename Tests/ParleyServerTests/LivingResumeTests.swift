import Foundation
import Logging
import ParleyProtocol
import Testing

@testable import ParleyServer

/// Authorship across restarts, revision order under concurrency, and resume with `since` and `rev` (§11).
@Suite struct LivingResumeTests {
    /// The session secret is kept (hashed) with the author's messages: after a restart the same secret still
    /// edits them and reclaims the nick, and nobody else can.
    @Test func authorshipSurvivesARestart() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-living")
        let path = directory.url.appendingPathComponent("restart.sqlite").path
        let (session, id) = try await withServer(at: path) { server in
            let (alice, welcome) = try await server.join("room=keep&nick=alice")
            try await alice.send("before the restart")
            let message = try await alice.nextMessage()
            // A second connection of the same session (after a drop) is still the author.
            let again = try await server.connect("room=keep&session=\(welcome.session)")
            _ = try await again.welcome()
            try await again.send(.edit(id: message.id, text: "edited by the same session"))
            _ = try await again.nextUpdate()
            return (welcome.session, message.id)
        }
        try await withServer(at: path) { server in
            let (stranger, _) = try await server.join("room=keep&nick=mallory")
            try await stranger.send(.edit(id: id, text: "not mine"))
            #expect(try await stranger.nextError() == .forbidden)
            let (alice, welcome) = try await server.join("room=keep&session=\(session)")
            #expect(welcome.nick == "alice" && welcome.session == session)
            try await alice.send(.edit(id: id, text: "after the restart"))
            let (_, edited) = try await alice.nextUpdate()
            #expect(edited.text == "after the restart")
            try await alice.send(.delete(id: id))
            #expect(try await alice.nextUpdate().1.deleted == true)
        }
    }

    /// Five members, five of whom edit and react at once: every member sees every revision once, in order,
    /// with no gap.
    @Test func updatesReachEveryMemberInRevisionOrder() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            var members: [RawSocket] = []
            for n in 0..<5 { members.append(try await server.join("room=order&nick=m\(n)").0) }
            try await members[0].sendConfirmed(5)
            for member in members.dropFirst() { for _ in 0..<5 { _ = try await member.nextMessage() } }
            let perSender = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, member) in members.enumerated() {
                    group.addTask {
                        for round in 0..<perSender {
                            // Each reaction is added, then taken back: every command is a change.
                            let target = Int64(round / 2 % 5 + 1)
                            if round % 2 == 0 {
                                try await member.send(.react(id: target, emoji: "e\(n)-\(round)"))
                            } else {
                                try await member.send(.unreact(id: target, emoji: "e\(n)-\(round - 1)"))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = Int64(5 * perSender)
            var views: [[Int64]] = []
            for member in members {
                var revs: [Int64] = []
                while revs.count < total { revs.append(try await member.nextUpdate().0) }
                views.append(revs)
            }
            for view in views { #expect(view == Array(1...total)) }
        }
    }

    /// A client that drops again and again while others edit, delete, react and post, and resumes each time
    /// with `since` and `rev`, ends with the same view as a fresh client.
    @Test func resumeWithSinceAndRevConverges() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (writer, _) = try await server.join("room=resume&nick=writer")
            try await writer.sendConfirmed(10)
            var view: [Int64: ChatMessage] = [:]
            var (since, rev): (Int64, Int64) = (0, 0)
            func take(_ welcome: ServerEvent.Welcome) {
                for message in welcome.history + (welcome.updates ?? []) { view[message.id] = message }
                since = welcome.lastID
                rev = welcome.rev ?? 0
            }
            let (reader, first) = try await server.join("room=resume&nick=reader&since=0")
            take(first)
            reader.close()
            for round in 0..<6 {
                // While the reader is away: an edit, a reaction, a deletion and a new message.
                let base = Int64(round + 1)
                try await writer.send(.edit(id: base, text: "edit \(round)"))
                try await writer.send(.react(id: base + 1, emoji: "👍"))
                if round % 2 == 1 { try await writer.send(.unreact(id: base, emoji: "👍")) }
                try await writer.send(.delete(id: base + 3))
                try await writer.send(.message(text: "new \(round)", clientID: "n\(round)"))
                _ = try await writer.next { event -> Bool? in
                    if case .message(let message) = event, message.clientID == "n\(round)" { return true }
                    return nil
                }
                let (socket, welcome) = try await server.join("room=resume&nick=reader&since=\(since)&rev=\(rev)")
                #expect(welcome.updatesTruncated == false)
                take(welcome)
                socket.close()
            }
            let (_, fresh) = try await server.join("room=resume&nick=fresh&since=0")
            #expect(fresh.history.count == view.count)
            for message in fresh.history { #expect(view[message.id] == message) }
        }
    }

    /// More than 1,000 changed messages since `rev`: the newest 1,000 changes are not all sent, and
    /// `updates_truncated` says so.
    @Test func updatesAreTruncatedAtOneThousand() async throws {
        try await withServer(timeout: .seconds(120), .set(\.ratePerSecond, 0)) { server in
            let (writer, welcome) = try await server.join("room=many&nick=writer")
            let count = 1001
            for n in 1...count { try await writer.send("m\(n)") }
            for _ in 1...count { _ = try await writer.nextMessage() }
            for n in 1...count { try await writer.send(.react(id: Int64(n), emoji: "👍")) }
            for _ in 1...count { _ = try await writer.nextUpdate() }
            let (_, resumed) = try await server.join("room=many&nick=reader&since=\(count)&rev=0")
            #expect(resumed.updates?.count == 1000 && resumed.updatesTruncated == true && resumed.rev == Int64(count))
            #expect(resumed.updates?.first?.id == 1)
            let (_, recent) = try await server.join("room=many&nick=reader2&since=\(count)&rev=1")
            #expect(recent.updates?.count == 1000 && recent.updatesTruncated == false)
            // `rev` without `since` is ignored; a bad `rev` is refused before the upgrade.
            let (_, plain) = try await server.join("room=many&nick=reader3&rev=5")
            #expect(plain.updates == nil && plain.rev == Int64(count))
            _ = welcome
            let refused = try await server.http("GET", "/ws?room=many&since=1&rev=x")
            #expect(refused.status == 400 && refused.errorCode == "bad_request")
        }
    }
}

/// Runs `body` against a server on the SQLite file at `path` (which may hold a previous run's data), then stops it.
func withServer<T: Sendable>(
    at path: String,
    timeout: Duration = .seconds(60),
    _ body: @escaping @Sendable (TestServer) async throws -> T
) async throws -> T {
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.database = .sqliteFile(path)
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = try await buildApplication(configuration: configuration, logger: .quiet) { port in
        portContinuation.yield(port)
    }
    return try await withTimeout(timeout) {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TimedOut() }
            let result = try await body(TestServer(port: port, databasePath: path))
            group.cancelAll()
            return result
        }
    }
}
