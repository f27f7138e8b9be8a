import Foundation
import GRDB
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// What a room reads of its saved sessions when members come back after a restart (``SavedSessions``).
@Suite struct SavedSessionsTests {
    /// A long-lived room may have saved more sessions than are read: the ones read are those used last,
    /// the members most likely to be the ones coming back.
    @Test(.timeLimit(.minutes(1))) func theSessionsUsedLastAreRead() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-saved-sessions")
        let path = directory.url.appendingPathComponent("sessions.sqlite").path
        let store = try SQLiteMessageStore(location: .sqliteFile(path), metrics: ParleyMetrics(), logger: .quiet)
        let room = try await store.openRoom(code: "long-lived")
        // Author keys rising with use: in the primary key's order the first two are the ones used first.
        try await store.database.write { db in
            for n in 1...5 {
                try db.execute(
                    sql: "INSERT INTO sessions (room_id, author, nick, used_at) VALUES (?, ?, ?, ?)",
                    arguments: [room.id, 100 + n, "member\(n)", n * 1000]
                )
            }
        }
        let read = try await store.savedSessions(roomID: room.id, limit: 2)
        #expect(read == [105: "member5", 104: "member4"])
    }
}
