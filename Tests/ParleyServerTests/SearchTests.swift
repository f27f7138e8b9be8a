import Foundation
import GRDB
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

private struct CheckpointBusy: Error {}

/// `GET /api/rooms/{code}/search` (contract §15) over real sockets.
@Suite struct SearchTests {
    private func ids(_ server: TestServer, _ query: String, room: String = "search") async throws -> [Int] {
        let reply = try await server.http("GET", "/api/rooms/\(room)/search?\(query)")
        #expect(reply.status == 200, "\(query): \(reply.body)")
        return (reply.json["messages"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
    }

    @Test(arguments: TestStorage.available) func wordsPrefixesCaseAndDiacritics(storage: TestStorage) async throws {
        let room = storage.room("search")
        let roomElsewhere = storage.room("elsewhere")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            let texts = [
                "The Café opens at noon",  // 1
                "cafe closed today",  // 2
                "Opening hours of the CAFÉ",  // 3
                "nothing to see",  // 4
                "naïve résumé",  // 5
            ]
            for text in texts { try await alice.send(text) }
            for _ in texts { _ = try await alice.nextMessage() }
            // Other rooms never match.
            let (other, _) = try await server.join("room=\(roomElsewhere)&nick=bob")
            try await other.send("cafe elsewhere")
            _ = try await other.nextMessage()

            #expect(try await ids(server, "q=cafe", room: room) == [3, 2, 1])  // newest first, diacritics and case ignored
            #expect(try await ids(server, "q=caf%C3%A9%20open", room: room) == [3, 1])  // every word, each a prefix
            #expect(try await ids(server, "q=OPEN%20cafe%20noon", room: room) == [1])
            #expect(try await ids(server, "q=naive%20resume", room: room) == [5])
            #expect(try await ids(server, "q=caf&limit=2", room: room) == [3, 2])
            #expect(try await ids(server, "q=caf&before=3", room: room) == [2, 1])
            #expect(try await ids(server, "q=zebra", room: room).isEmpty)
            #expect(try await ids(server, #"q=%22cafe%22%20*%20(-"#, room: room) == [3, 2, 1])  // FTS5 syntax is just text
            let more = try await server.http("GET", "/api/rooms/\(room)/search?q=cafe&limit=1")
            #expect(more.json["has_more"] as? Bool == true)
        }
    }

    @Test(arguments: TestStorage.available) func editedAndDeletedMessages(storage: TestStorage) async throws {
        let room = storage.room("search")
        try await withServer(storage.setting) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("old words here")
            let edited = try await alice.nextMessage()
            try await alice.send("secret plans")
            let deleted = try await alice.nextMessage()
            try await alice.send(.edit(id: edited.id, text: "fresh words here"))
            _ = try await alice.nextUpdate()
            try await alice.send(.delete(id: deleted.id))
            _ = try await alice.nextUpdate()
            #expect(try await ids(server, "q=old", room: room).isEmpty)
            #expect(try await ids(server, "q=fresh", room: room) == [Int(edited.id)])
            #expect(try await ids(server, "q=secret", room: room).isEmpty)
            #expect(try await ids(server, "q=words", room: room) == [Int(edited.id)])
        }
    }

    /// Deletion erases the text from storage: neither the messages table nor the search index holds it.
    @Test func deletionErasesTheText() async throws {
        try await withServer { server in
            let (alice, _) = try await server.join("room=erase&nick=alice")
            // Long enough that the shorter cell written in its place cannot cover it all.
            let secret = "xylophonic confession " + String(repeating: "and more words ", count: 20) + "the very end"
            try await alice.send(secret)
            let message = try await alice.nextMessage()
            try await alice.send("filler so the page is not rewritten from scratch")
            _ = try await alice.nextMessage()
            func fileHolds(_ text: String) -> Bool {
                [server.databasePath, server.databasePath + "-wal"].contains { path in
                    let bytes = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
                    return bytes.range(of: Data(text.utf8)) != nil
                }
            }
            #expect(fileHolds("the very end"))
            try await alice.send(.delete(id: message.id))
            _ = try await alice.nextUpdate()
            let store = try SQLiteMessageStore(location: .sqliteFile(server.databasePath), metrics: ParleyMetrics(), logger: .quiet)
            let (texts, matches) = try await store.database.read { db in
                (
                    try String.fetchAll(db, sql: "SELECT text FROM messages"),
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM message_search WHERE message_search MATCH 'xylophonic'")
                )
            }
            #expect(texts.first == "" && matches == 0)
            // Nor the file: the text is overwritten, not left in the page's free space.
            // Until the log is copied back and emptied (a reader of the server may hold it for a moment).
            try await eventually {
                let row = try await store.database.writeWithoutTransaction { db in try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
                guard row?[0] as Int? == 0 else { throw CheckpointBusy() }
            }
            #expect(!fileHolds("the very end"))
        }
    }

    @Test(arguments: TestStorage.available) func queryValidation(storage: TestStorage) async throws {
        let room = storage.room("search")
        try await withServer(storage.setting) { server in
            _ = try await server.join("room=\(room)&nick=alice")
            for query in ["", "q=", "q=\(String(repeating: "a", count: 201))", "q=a&limit=0", "q=a&limit=101", "q=a&before=x"] {
                let reply = try await server.http("GET", "/api/rooms/\(room)/search?\(query)")
                #expect(reply.status == 400 && reply.errorCode == "bad_request", "\(query)")
            }
            #expect(try await server.http("GET", "/api/rooms/nowhere/search?q=a").status == 404)
            #expect(try await server.http("POST", "/api/rooms/\(room)/search?q=a").status == 405)
            #expect(try await ids(server, "q=%21%21", room: room).isEmpty)  // no word at all: nothing matches
            // A NUL or another control character separates words; it once ended the FTS5 query string early (500).
            #expect(try await ids(server, "q=ab%00cd", room: room).isEmpty)
            #expect(try await server.http("GET", "/api/rooms/\(room)/search?q=U%C2%80%00%C3%98%27%12x").status == 200)
        }
    }
}
