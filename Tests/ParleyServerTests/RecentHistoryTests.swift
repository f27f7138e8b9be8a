import Foundation
import GRDB
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// A member joining a live room gets its `welcome` without a storage read (issue 21): history from the room's
/// cache of recent messages, saved sessions read once per room. The answers are storage's, exactly.
///
/// To see which way an answer came, some tests change the database behind the server's back, as nothing else
/// ever does: what a read would return then differs from what the room holds.
@Suite struct RecentHistoryTests {
    /// Another connection to the server's database file.
    static func tamper(_ path: String, _ sql: String) async throws {
        let other = try DatabaseQueue(path: path)
        try await other.write { db in try db.execute(sql: sql) }
    }

    static func texts(_ welcome: ServerEvent.Welcome) -> [String] { welcome.history.map(\.text) }

    @Test func aLiveRoomsWelcomeReadsNoStorage() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (alice, _) = try await server.join("room=live&nick=alice")
            try await alice.sendConfirmed(3)
            try await Self.tamper(server.databasePath, "UPDATE messages SET text = 'read from storage'")
            let (_, plain) = try await server.join("room=live&nick=bob")
            #expect(Self.texts(plain) == ["m1", "m2", "m3"] && plain.lastID == 3 && !plain.truncated)
            let (_, resumed) = try await server.join("room=live&nick=carol&since=1")
            #expect(Self.texts(resumed) == ["m2", "m3"] && resumed.lastID == 3)
            let (_, current) = try await server.join("room=live&nick=dave&since=1&rev=0")
            #expect(Self.texts(current) == ["m2", "m3"] && current.updates == [] && current.updatesTruncated == false)
        }
    }

    /// A room with more messages than a `welcome` shows: the first joiner's read fills the cache with one more
    /// than it shows, so the next joiner learns from the cache alone that there are more.
    @Test func aLongHistoryIsServedFromTheCacheToo() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-recent")
        let path = directory.url.appendingPathComponent("long.sqlite").path
        try await withServer(at: path, historySize: 3) { server in
            let (alice, _) = try await server.join("room=long&nick=alice")
            try await alice.sendConfirmed(5)
        }
        try await withServer(at: path, historySize: 3) { server in
            let (_, first) = try await server.join("room=long&nick=first")
            #expect(Self.texts(first) == ["m3", "m4", "m5"] && first.truncated)
            try await Self.tamper(path, "UPDATE messages SET text = 'read from storage'")
            let (_, second) = try await server.join("room=long&nick=second")
            #expect(Self.texts(second) == ["m3", "m4", "m5"] && second.truncated && second.lastID == 5)
        }
    }

    /// Edits, deletions and reactions made while the room is live, a history longer than the cache, and resumes
    /// at and below its floor: every `welcome` of the live room matches the one a restarted server reads from
    /// storage, field by field.
    @Test func aLiveRoomAnswersAsStorageDoes() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-recent")
        let path = directory.url.appendingPathComponent("recent.sqlite").path
        // historySize 3: the room keeps the newest 4 (ids 3...6 of 6).
        let queries = ["", "&since=2", "&since=3", "&since=1", "&since=6", "&since=9", "&since=4&rev=3", "&since=4&rev=1", "&since=5&rev=0"]
        let live = try await withServer(at: path, historySize: 3) { server in
            let (alice, _) = try await server.join("room=same&nick=alice")
            try await alice.sendConfirmed(6)
            try await alice.send(.edit(id: 5, text: "edited"))
            try await alice.send(.react(id: 4, emoji: "👍"))
            try await alice.send(.delete(id: 6))
            #expect(try await alice.nextUpdate(after: 2).0 == 3)
            var welcomes: [ServerEvent.Welcome] = []
            for (n, query) in queries.enumerated() { welcomes.append(try await server.join("room=same&nick=j\(n)\(query)").1) }
            return welcomes
        }
        for (n, query) in queries.enumerated() {
            // A new server for every query, so that each joins a room nobody holds: its answer is storage's.
            let stored = try await withServer(at: path, historySize: 3) { server in try await server.join("room=same&nick=j\(n)\(query)").1 }
            let cached = live[n]
            #expect(cached.history == stored.history, "\(query)")
            #expect(cached.lastID == stored.lastID && cached.truncated == stored.truncated && cached.rev == stored.rev, "\(query)")
            #expect(cached.updates == stored.updates && cached.updatesTruncated == stored.updatesTruncated, "\(query)")
        }
    }

    /// After a restart the members of a room come back with their sessions: the room reads the saved ones once,
    /// and every member after the first gets its nick back from that read.
    @Test func aRoomReadsItsSavedSessionsOnce() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-recent")
        let path = directory.url.appendingPathComponent("sessions.sqlite").path
        let nicks = ["ann", "ben", "cat", "dan"]
        let sessions = try await withServer(at: path) { server in
            let (keeper, _) = try await server.join("room=back&nick=keeper")
            var sessions: [String] = []
            for nick in nicks { sessions.append(try await server.join("room=back&nick=\(nick)").1.session) }
            // The sessions share the writer's queue: once a later message is stored, so are they.
            try await keeper.sendConfirmed(1)
            return sessions
        }
        try await withServer(at: path) { server in
            let (_, first) = try await server.join("room=back&nick=keeper")
            #expect(first.history.count == 1)
            let (_, ann) = try await server.join("room=back&session=\(sessions[0])&since=1")
            #expect(ann.nick == "ann" && ann.session == sessions[0])
            try await Self.tamper(path, "UPDATE sessions SET nick = 'read alone'")
            for (nick, session) in zip(nicks, sessions).dropFirst() {
                let (_, welcome) = try await server.join("room=back&session=\(session)&since=1")
                #expect(welcome.nick == nick && welcome.session == session)
            }
            // A session handed out once is the session table's from then on; a stranger's is read alone.
            let (_, stranger) = try await server.join("room=back&session=\(SessionSecret.random())&nick=eve")
            #expect(stranger.nick == "eve")
        }
    }
}

/// As `withServer(at:storage:timeout:configure:_:)`, with a `welcome` of `historySize` messages.
func withServer<T: Sendable>(
    at path: String,
    historySize: Int,
    _ body: @escaping @Sendable (TestServer) async throws -> T
) async throws -> T {
    try await withServer(
        at: path,
        configure: { configuration in
            configuration.historySize = historySize
            configuration.ratePerSecond = 0
        },
        body
    )
}
