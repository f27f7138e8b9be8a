import Foundation
import Logging
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

/// Authorship across restarts, revision order under concurrency, and resume with `since` and `rev` (§11).
@Suite struct LivingResumeTests {
    /// The session secret is kept (hashed) with the author's messages: after a restart the same secret still
    /// edits them and reclaims the nick, and nobody else can.
    @Test(arguments: TestStorage.available) func authorshipSurvivesARestart(storage: TestStorage) async throws {
        let directory = try TemporaryDirectory(prefix: "parley-living")
        let path = directory.url.appendingPathComponent("restart.sqlite").path
        let room = storage.room("keep")
        let (session, id) = try await withServer(at: path, storage: storage) { server in
            let (alice, welcome) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("before the restart")
            let message = try await alice.nextMessage()
            // A second connection of the same session (after a drop) is still the author.
            let again = try await server.connect("room=\(room)&session=\(welcome.session)")
            _ = try await again.welcome()
            try await again.send(.edit(id: message.id, text: "edited by the same session"))
            _ = try await again.nextUpdate()
            return (welcome.session, message.id)
        }
        try await withServer(at: path, storage: storage) { server in
            let (stranger, _) = try await server.join("room=\(room)&nick=mallory")
            try await stranger.send(.edit(id: id, text: "not mine"))
            #expect(try await stranger.nextError() == .forbidden)
            let (alice, welcome) = try await server.join("room=\(room)&session=\(session)")
            #expect(welcome.nick == "alice" && welcome.session == session)
            try await alice.send(.edit(id: id, text: "after the restart"))
            let (_, edited) = try await alice.nextUpdate()
            #expect(edited.text == "after the restart")
            try await alice.send(.delete(id: id))
            #expect(try await alice.nextUpdate().1.deleted == true)
        }
    }

    /// A session is saved when it is handed out, not at its first message: one that only read before a restart
    /// still reclaims its nick after it.
    @Test(arguments: TestStorage.available) func aSessionThatNeverPostedSurvivesARestart(storage: TestStorage) async throws {
        let directory = try TemporaryDirectory(prefix: "parley-living")
        let path = directory.url.appendingPathComponent("reader.sqlite").path
        let room = storage.room("reader")
        let session = try await withServer(at: path, storage: storage) { server in
            let (writer, _) = try await server.join("room=\(room)&nick=writer")
            try await writer.send("so the room is kept")
            _ = try await writer.nextMessage()
            let (reader, welcome) = try await server.join("room=\(room)&nick=reader")
            // The save shares the writer's queue: once a later message is stored, so is the session.
            try await writer.send("after the reader joined")
            _ = try await writer.nextMessage()
            reader.close()
            return welcome.session
        }
        try await withServer(at: path, storage: storage) { server in
            let (_, welcome) = try await server.join("room=\(room)&session=\(session)")
            #expect(welcome.nick == "reader" && welcome.session == session)
        }
    }

    /// Five members, five of whom edit and react at once: every member sees every revision once, in order,
    /// with no gap.
    @Test(arguments: TestStorage.available) func updatesReachEveryMemberInRevisionOrder(storage: TestStorage) async throws {
        let room = storage.room("order")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            var members: [RawSocket] = []
            for n in 0..<5 { members.append(try await server.join("room=\(room)&nick=m\(n)").0) }
            // Each member's own message, which it edits.
            var own: [Int64] = []
            for (n, member) in members.enumerated() {
                try await member.send(.message(text: "own \(n)", clientID: "own\(n)"))
                own.append(
                    try await member.next { event in
                        if case .message(let message) = event, message.clientID == "own\(n)" { return message.id }
                        return nil
                    }
                )
            }
            let owned = own
            let perSender = 60
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, member) in members.enumerated() {
                    group.addTask {
                        for round in 0..<perSender {
                            // An edit, then a reaction added and taken back: every command is a change.
                            let target = Int64(round / 3 % 5 + 1)
                            switch round % 3 {
                            case 0: try await member.send(.edit(id: owned[n], text: "own \(n), edit \(round)"))
                            case 1: try await member.send(.react(id: target, emoji: "e\(n)-\(round)"))
                            default: try await member.send(.unreact(id: target, emoji: "e\(n)-\(round - 1)"))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = Int64(5 * perSender)
            var views: [[Int64]] = []
            var finalTexts: [[String]] = []
            for member in members {
                var revs: [Int64] = []
                var texts: [Int64: String] = [:]
                while revs.count < total {
                    let (rev, message) = try await member.nextUpdate()
                    revs.append(rev)
                    texts[message.id] = message.text
                }
                views.append(revs)
                finalTexts.append(owned.map { texts[$0] ?? "" })
            }
            for view in views { #expect(view == Array(1...total)) }
            // Every member ends with every sender's last edit.
            let last = (0..<5).map { "own \($0), edit \(perSender - 3)" }
            for texts in finalTexts { #expect(texts == last) }
        }
    }

    /// A client that drops again and again while others edit, delete, react and post, and resumes each time
    /// with `since` and `rev`, ends with the same view as a fresh client.
    @Test(arguments: TestStorage.available) func resumeWithSinceAndRevConverges(storage: TestStorage) async throws {
        let room = storage.room("resume")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (writer, _) = try await server.join("room=\(room)&nick=writer")
            try await writer.sendConfirmed(10)
            var view: [Int64: ChatMessage] = [:]
            var (since, rev): (Int64, Int64) = (0, 0)
            func take(_ welcome: ServerEvent.Welcome) {
                for message in welcome.history + (welcome.updates ?? []) { view[message.id] = message }
                since = welcome.lastID
                rev = welcome.rev ?? 0
            }
            let (reader, first) = try await server.join("room=\(room)&nick=reader&since=0")
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
                let (socket, welcome) = try await server.join("room=\(room)&nick=reader&since=\(since)&rev=\(rev)")
                #expect(welcome.updatesTruncated == false)
                take(welcome)
                socket.close()
            }
            let (_, fresh) = try await server.join("room=\(room)&nick=fresh&since=0")
            #expect(fresh.history.count == view.count)
            for message in fresh.history { #expect(view[message.id] == message) }
        }
    }

    /// More than 1,000 changed messages since `rev`: the newest 1,000 changes are not all sent, and
    /// `updates_truncated` says so.
    @Test(arguments: TestStorage.available) func updatesAreTruncatedAtOneThousand(storage: TestStorage) async throws {
        let room = storage.room("many")
        try await withServer(timeout: .seconds(120), storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (writer, welcome) = try await server.join("room=\(room)&nick=writer")
            let count = 1001
            for n in 1...count { try await writer.send("m\(n)") }
            for _ in 1...count { _ = try await writer.nextMessage() }
            for n in 1...count { try await writer.send(.react(id: Int64(n), emoji: "👍")) }
            for _ in 1...count { _ = try await writer.nextUpdate() }
            let (_, resumed) = try await server.join("room=\(room)&nick=reader&since=\(count)&rev=0")
            #expect(resumed.updates?.count == 1000 && resumed.updatesTruncated == true && resumed.rev == Int64(count))
            #expect(resumed.updates?.first?.id == 1)
            let (_, recent) = try await server.join("room=\(room)&nick=reader2&since=\(count)&rev=1")
            #expect(recent.updates?.count == 1000 && recent.updatesTruncated == false)
            // `rev` without `since` is ignored; a bad `rev` is refused before the upgrade.
            let (_, plain) = try await server.join("room=\(room)&nick=reader3&rev=5")
            #expect(plain.updates == nil && plain.rev == Int64(count))
            _ = welcome
            let refused = try await server.http("GET", "/ws?room=\(room)&since=1&rev=x")
            #expect(refused.status == 400 && refused.errorCode == "bad_request")
        }
    }
}

/// Runs `body` against a server on the SQLite file at `path` (which may hold a previous run's data), or on the
/// test PostgreSQL, then stops it.
func withServer<T: Sendable>(
    at path: String,
    storage: TestStorage = .sqlite,
    timeout: Duration = .seconds(60),
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (TestServer) async throws -> T
) async throws -> T {
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.database = .sqliteFile(path)
    storage.setting.apply(&configuration)
    configure(&configuration)
    let ready = configuration
    return try await withTimeout(timeout) {
        let result = Mutex<T?>(nil)
        try await withApplication { listening in
            try await buildApplication(configuration: ready, logger: .quiet) { listening($0) }
        } body: { port in
            let value = try await body(TestServer(port: port, databasePath: path))
            result.withLock { $0 = value }
        }
        guard let value = result.withLock({ $0 }) else { throw TimedOut() }
        return value
    }
}
