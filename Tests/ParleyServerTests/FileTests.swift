import Foundation
import GRDB
import Logging
import ParleyProtocol
import ParleyTestSupport
import PostgresNIO
import Testing

@testable import ParleyServer

/// Files (§14) over real sockets, on both storages: upload, serve, attach, limits, sweep and deletion.
/// Serialized: the sweep test sweeps every unattached file of the shared PostgreSQL, which would take the
/// files of tests running beside it.
@Suite(.serialized) struct FileTests {
    /// A PNG whose header says 640×480, followed by filler bytes.
    static let png: [UInt8] =
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + [0, 0, 2, 0x80, 0, 0, 1, 0xE0]
        + Array(repeating: 7, count: 100)

    @discardableResult
    static func upload(
        _ server: TestServer,
        room: String,
        name: String = "a.png",
        type: String? = "image/png",
        _ bytes: [UInt8] = png
    ) async throws -> RawHTTP {
        try await server.raw("POST", "/api/rooms/\(room)/files?name=\(name)", headers: type.map { [("Content-Type", $0)] } ?? [], body: bytes)
    }

    static func json(_ reply: RawHTTP) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [String: Any] ?? [:]
    }

    @Test(arguments: TestStorage.available) func uploadServeRangeAndETag(storage: TestStorage) async throws {
        let f = storage.room("f")
        try await withServer(storage.setting) { server in
            _ = try await server.join("room=\(f)&nick=ann")
            let created = try await Self.upload(server, room: f)
            #expect(created.status == 201)
            let file = Self.json(created)
            let id = try #require(file["id"] as? String)
            #expect(FileRules.isFileID(id))
            #expect(file["name"] as? String == "a.png" && file["type"] as? String == "image/png")
            #expect(file["size"] as? Int == Self.png.count)
            #expect(file["url"] as? String == "/files/\(id)/a.png")
            #expect(file["width"] as? Int == 640 && file["height"] as? Int == 480)

            let served = try await server.raw("GET", "/files/\(id)/a.png")
            #expect(served.status == 200 && served.body == Self.png)
            #expect(served.headers["content-type"] == "image/png")
            #expect(served.headers["content-disposition"]?.hasPrefix("inline") == true)
            #expect(served.headers["x-content-type-options"] == "nosniff")
            #expect(served.headers["content-security-policy"] == "sandbox; default-src 'none'")
            #expect(served.headers["cache-control"] == "private, max-age=31536000, immutable")
            let etag = try #require(served.headers["etag"])

            let notModified = try await server.raw("GET", "/files/\(id)/a.png", headers: [("If-None-Match", etag)])
            #expect(notModified.status == 304 && notModified.body.isEmpty)
            #expect(notModified.headers["x-content-type-options"] == "nosniff")

            let part = try await server.raw("GET", "/files/\(id)/a.png", headers: [("Range", "bytes=2-5")])
            #expect(part.status == 206 && part.body == Array(Self.png[2...5]))
            #expect(part.headers["content-range"] == "bytes 2-5/\(Self.png.count)")
            let tail = try await server.raw("GET", "/files/\(id)/a.png", headers: [("Range", "bytes=-3")])
            #expect(tail.status == 206 && tail.body == Array(Self.png.suffix(3)))
            let beyond = try await server.raw("GET", "/files/\(id)/a.png", headers: [("Range", "bytes=100000-")])
            #expect(beyond.status == 416 && beyond.headers["content-range"] == "bytes */\(Self.png.count)")

            let head = try await server.raw("HEAD", "/files/\(id)/a.png")
            #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == "\(Self.png.count)")

            #expect(try await server.raw("GET", "/files/\(String(repeating: "0", count: 32))/a.png").status == 404)
            #expect(try await server.raw("GET", "/files/nonsense/a.png").status == 404)
            #expect(try await Self.upload(server, room: "nosuchroom").status == 404)
            #expect(try await Self.upload(server, room: f, name: "").status == 400)
            #expect(try await Self.upload(server, room: f, name: "a%2Fb").status == 400)
        }
    }

    @Test(arguments: TestStorage.available) func onlyAllowlistedTypesAreServedAsThemselves(storage: TestStorage) async throws {
        let f = storage.room("f")
        try await withServer(storage.setting) { server in
            _ = try await server.join("room=\(f)&nick=ann")
            let inline = ["image/png", "image/jpeg", "image/gif", "image/webp", "audio/ogg", "audio/mpeg", "video/mp4", "video/webm", "text/plain"]
            let downloads = ["text/html", "image/svg+xml", "application/pdf", "application/javascript", "text/xml", "video/quicktime"]
            for type in inline + downloads + ["not a type"] {
                let body = Array(#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.utf8)
                let created = try await Self.upload(server, room: f, name: "x", type: type, body)
                #expect(created.status == 201, "\(type)")
                let url = try #require(Self.json(created)["url"] as? String)
                let served = try await server.raw("GET", url)
                #expect(served.status == 200 && served.body == body)
                #expect(served.headers["x-content-type-options"] == "nosniff")
                #expect(served.headers["content-security-policy"] == "sandbox; default-src 'none'")
                if inline.contains(type) {
                    #expect(served.headers["content-type"] == type)
                    #expect(served.headers["content-disposition"]?.hasPrefix("inline") == true)
                } else {
                    #expect(served.headers["content-type"] == "application/octet-stream", "\(type)")
                    #expect(served.headers["content-disposition"] == "attachment; filename*=UTF-8''x", "\(type)")
                }
            }
            // The upload route takes any body type; other routes still refuse bodies that are not JSON.
            let notJSON = try await server.raw("POST", "/api/rooms/\(f)/messages", headers: [("Content-Type", "text/plain")], body: Array("hi".utf8))
            #expect(notJSON.status == 415)
        }
    }

    @Test(arguments: TestStorage.available) func fileAndRoomLimits(storage: TestStorage) async throws {
        let f = storage.room("f")
        let g = storage.room("g")
        try await withServer(storage.setting, .set(\.maxFileBytes, 1000), .set(\.maxRoomFileBytes, 2900)) { server in
            _ = try await server.join("room=\(f)&nick=ann")
            let big = try await Self.upload(server, room: f, Array(repeating: 1, count: 1001))
            #expect(big.status == 413 && (Self.json(big)["error"] as? [String: Any])?["code"] as? String == "too_large")
            #expect(try await Self.upload(server, room: f, Array(repeating: 1, count: 1000)).status == 201)
            #expect(try await Self.upload(server, room: f, Array(repeating: 2, count: 1000)).status == 201)
            let full = try await Self.upload(server, room: f, Array(repeating: 3, count: 1000))
            #expect(full.status == 413 && (Self.json(full)["error"] as? [String: Any])?["code"] as? String == "too_large")
            // Without a length, the body is cut off once it passes either limit (here the room's, 2,400 bytes in).
            let streamed = try await server.raw("POST", "/api/rooms/\(f)/files?name=s", body: Array(repeating: 4, count: 400), chunked: true)
            #expect(streamed.status == 201 && Self.json(streamed)["size"] as? Int == 400)
            let streamedBig = try await server.raw("POST", "/api/rooms/\(f)/files?name=s", body: Array(repeating: 4, count: 50_000), chunked: true)
            #expect(streamedBig.status == 413 && streamedBig.headers["connection"] == "close")
            // Another room has its own allowance.
            _ = try await server.join("room=\(g)&nick=bob")
            #expect(try await Self.upload(server, room: g, Array(repeating: 3, count: 1000)).status == 201)
            let tooLong = try await server.raw("POST", "/api/rooms/\(g)/files?name=s", body: Array(repeating: 4, count: 50_000), chunked: true)
            #expect(tooLong.status == 413)
            let metrics = try await server.http("GET", "/metrics").body
            #expect(metrics.contains(#"parley_file_uploads_refused_total{reason="file_too_large"} 2"#))
            #expect(metrics.contains(#"parley_file_uploads_refused_total{reason="room_full"} 2"#))
            #expect(metrics.contains("parley_file_uploads_total 4"))
        }
    }

    /// A refused upload's body is not read: the answer says `Connection: close`, and the connection closes
    /// soon after it, however much the client goes on sending (it declared a gigabyte). Refused for its size, and
    /// refused before the size mattered (no such room).
    @Test(arguments: [("refused", 413), ("nosuchroom", 404)])
    func aRefusedUploadClosesItsConnectionWhileTheBodyStillComes(room: String, status: Int) async throws {
        try await withServer { server in
            _ = try await server.join("room=refused&nick=ann")
            let probe = try await TCPProbe.connect(port: server.port)
            try await probe.send(
                "POST /api/rooms/\(room)/files?name=big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                    + "Content-Length: 1000000000\r\n\r\n"
            )
            let reply = try await probe.response()
            #expect(reply.status == status && reply.headers["connection"] == "close")
            // A trickle of body for up to 5 s (the idle timeout between parts is 10 s, and each part restarts it).
            let chunk = String(repeating: "x", count: 1024)
            for _ in 0..<50 where probe.isOpen {
                try? await probe.send(chunk)
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!probe.isOpen, "the connection still reads the refused body")
            probe.close()
        }
    }

    /// A resend is recognised only when its text and files equal the original's (§6): the same `client_id` with
    /// other files is refused, and a true resend gets the original back with its files.
    @Test(arguments: TestStorage.available) func aResendWithOtherFilesIsRefused(storage: TestStorage) async throws {
        let room = storage.room("resendfiles")
        try await withServer(storage.setting) { server in
            let (ann, _) = try await server.join("room=\(room)&nick=ann")
            let first = try #require(Self.json(try await Self.upload(server, room: room, name: "a.png"))["id"] as? String)
            let second = try #require(Self.json(try await Self.upload(server, room: room, name: "b.png", Self.png + [1]))["id"] as? String)
            try await ann.send(#"{"type":"message","text":"look","client_id":"c1","attachments":["\#(first)"]}"#)
            let stored = try await ann.nextMessage()
            try await ann.send(#"{"type":"message","text":"look","client_id":"c1","attachments":["\#(first)"]}"#)
            let resent = try await ann.nextMessage()
            #expect(resent.id == stored.id && resent.attachments?.map(\.id) == [first])
            try await ann.send(#"{"type":"message","text":"look","client_id":"c1","attachments":["\#(second)"]}"#)
            #expect(try await ann.nextError() == .badRequest)
            try await ann.send(#"{"type":"message","text":"look","client_id":"c1"}"#)
            #expect(try await ann.nextError() == .badRequest)
            let overHTTP = try await server.http(
                "POST",
                "/api/rooms/\(room)/messages",
                body: #"{"nick":"web","text":"look","client_id":"c1","attachments":["\#(second)"]}"#
            )
            #expect(overHTTP.status == 409)
            ann.close()
        }
    }

    /// Bytes on disk count against the server's cap until the sweep deletes them: a second copy of stored
    /// content (kept aside, unreferenced) counts as much as the first. (SQLite only: the cap is the whole
    /// database's, and the tests share one PostgreSQL database.)
    @Test func aDuplicateUploadsBytesCountUntilSwept() async throws {
        let room = "capped"
        try await withServer(.set(\.maxTotalFileBytes, 4500)) { server in
            _ = try await server.join("room=\(room)&nick=ann")
            let bytes = Self.png + Array(repeating: 9, count: 2000 - Self.png.count)
            #expect(try await Self.upload(server, room: room, name: "one.png", bytes).status == 201)
            #expect(try await Self.upload(server, room: room, name: "two.png", bytes).status == 201)
            // 2,000 stored and 2,000 more waiting for the sweep: 600 more would pass the cap.
            let over = try await Self.upload(server, room: room, name: "three.png", Self.png + Array(repeating: 1, count: 600))
            #expect(over.status == 507)
        }
    }

    @Test(arguments: TestStorage.available) func attachmentRules(storage: TestStorage) async throws {
        let f = storage.room("f")
        let other = storage.room("other")
        try await withServer(storage.setting) { server in
            let (ann, _) = try await server.join("room=\(f)&nick=ann")
            _ = try await server.join("room=\(other)&nick=bob")
            var ids: [String] = []
            for n in 0..<11 {
                let created = try await Self.upload(server, room: f, name: "f\(n).png", Self.png + [UInt8(n)])
                ids.append(try #require(Self.json(created)["id"] as? String))
            }
            let foreign = try #require(Self.json(try await Self.upload(server, room: other))["id"] as? String)

            try await ann.send(.message(text: "", clientID: "c1", attachments: Array(ids[0..<2])))
            let message = try await ann.nextMessage()
            #expect(message.text == "" && message.attachments?.map(\.id) == Array(ids[0..<2]))
            #expect(message.attachments?.first?.width == 640 && message.attachments?.first?.url == "/files/\(ids[0])/f0.png")

            try await ann.send(.message(text: "again", clientID: nil, attachments: [ids[0]]))
            #expect(try await ann.nextError() == .badRequest)
            try await ann.send(.message(text: "foreign", clientID: nil, attachments: [foreign]))
            #expect(try await ann.nextError() == .notFound)
            try await ann.send(.message(text: "unknown", clientID: nil, attachments: [String(repeating: "a", count: 32)]))
            #expect(try await ann.nextError() == .notFound)
            try await ann.send(#"{"type":"message","text":"many","attachments":\#(Self.jsonList(Array(ids[2..<11]) + [ids[0]]))}"#)
            #expect(try await ann.nextError() == .badRequest)
            try await ann.send(#"{"type":"message","text":"none","attachments":[]}"#)
            #expect(try await ann.nextError() == .badRequest)
            try await ann.send(#"{"type":"message","text":"","client_id":"x"}"#)
            #expect(try await ann.nextError() == .badRequest)
            // Ten is the most.
            try await ann.send(#"{"type":"message","text":"ten","attachments":\#(Self.jsonList(Array(ids[2..<11]) + [foreign]))}"#)
            #expect(try await ann.nextError() == .notFound)

            // Refusals are answers: on PostgreSQL the database still counts as reachable.
            #expect(try await Self.databaseSilent(server) == false)

            let posted = try await server.http(
                "POST",
                "/api/rooms/\(f)/messages",
                body: #"{"nick":"poster","text":"","attachments":\#(Self.jsonList(Array(ids[2..<11])))}"#
            )
            #expect(posted.status == 201)
            #expect((posted.json["attachments"] as? [[String: Any]])?.count == 9)
            let twice = try await server.http("POST", "/api/rooms/\(f)/messages", body: #"{"nick":"poster","text":"x","attachments":["\#(ids[2])"]}"#)
            #expect(twice.status == 400)

            // History, the HTTP API and a fresh welcome carry them.
            let (_, welcome) = try await server.join("room=\(f)&nick=cat")
            #expect(welcome.history.compactMap(\.attachments).map(\.count) == [2, 9])
            let page = try await server.http("GET", "/api/rooms/\(f)/messages")
            #expect(((page.json["messages"] as? [[String: Any]])?.first?["attachments"] as? [[String: Any]])?.first?["height"] as? Int == 480)
        }
    }

    /// Whether `parley_postgres_reachable` says the database stopped answering (never, on SQLite).
    static func databaseSilent(_ server: TestServer) async throws -> Bool {
        try await server.http("GET", "/metrics").body.contains("parley_postgres_reachable 0")
    }

    static func jsonList(_ ids: [String]) -> String {
        "[" + ids.map { "\"\($0)\"" }.joined(separator: ",") + "]"
    }

    @Test(arguments: TestStorage.available) func unattachedFilesAreSweptAndDeletedMessagesTakeTheirFiles(storage: TestStorage) async throws {
        let f = storage.room("f")
        // Long enough that the kept file is attached before any sweep could take it, even on a loaded machine.
        try await withServer(storage.setting, .set(\.unattachedFileLifetime, .seconds(5))) { server in
            let (ann, _) = try await server.join("room=\(f)&nick=ann")
            let kept = try #require(Self.json(try await Self.upload(server, room: f, name: "kept", Self.png + [1]))["id"] as? String)
            try await ann.send(.message(text: "with file", clientID: nil, attachments: [kept]))
            let message = try await ann.nextMessage()
            let loose = try #require(Self.json(try await Self.upload(server, room: f, name: "loose"))["url"] as? String)
            // The lifetime is a duration, so there is no event to await: poll until the sweep (every quarter of it) took it.
            let deadline = ContinuousClock.now + .seconds(30)
            while try await server.raw("GET", loose).status != 404, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await server.raw("GET", loose).status == 404)
            #expect(try await server.raw("GET", "/files/\(kept)/kept").status == 200)

            try await ann.send(.delete(id: message.id))
            _ = try await ann.next { event in if case .update = event { true } else { nil } }
            #expect(try await server.raw("GET", "/files/\(kept)/kept").status == 404)
            let (_, welcome) = try await server.join("room=\(f)&nick=bob")
            #expect(welcome.history.first?.attachments == nil && welcome.history.first?.deleted == true)
        }
    }

    /// The room rules of §12 bind uploads as they bind posts; deleting a room deletes its files.
    @Test(arguments: TestStorage.available) func lockedRoomsRefuseUploadsAndDeletedRoomsTakeTheirFiles(storage: TestStorage) async throws {
        try await withServer(storage.setting) { server in
            let created = try await server.http("POST", "/api/rooms", body: "{}")
            let code = try #require(created.json["code"] as? String)
            let key = try #require(created.json["owner_key"] as? String)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            let url = try #require(Self.json(try await Self.upload(server, room: code))["url"] as? String)
            let attached = try #require(Self.json(try await Self.upload(server, room: code, Self.png + [2]))["id"] as? String)
            try await owner.send(.message(text: "kept", clientID: nil, attachments: [attached]))
            _ = try await owner.nextMessage()

            try await owner.send(.room(RoomChange(locked: true)))
            _ = try await owner.next { event -> Bool? in if case .room = event { true } else { nil } }
            let refused = try await Self.upload(server, room: code, Self.png + [3])
            #expect(refused.status == 403 && (Self.json(refused)["error"] as? [String: Any])?["code"] as? String == "forbidden")
            let byOwner = try await server.raw(
                "POST",
                "/api/rooms/\(code)/files?name=o.png",
                headers: [("Content-Type", "image/png"), ("Authorization", "Bearer \(key)")],
                body: Self.png + [4]
            )
            #expect(byOwner.status == 201)

            let deleted = try await server.http("DELETE", "/api/rooms/\(code)", headers: [("Authorization", "Bearer \(key)")])
            #expect(deleted.status == 204 || deleted.status == 200)
            #expect(try await server.raw("GET", url).status == 404)
            #expect(try await server.raw("GET", "/files/\(attached)/a.png").status == 404)
        }
    }

    @Test(arguments: TestStorage.available) func identicalContentIsStoredOnce(storage: TestStorage) async throws {
        let f = storage.room("f")
        try await withServer(storage.setting) { server in
            _ = try await server.join("room=\(f)&nick=ann")
            let bytes = Array(repeating: UInt8(9), count: 600 * 1024)
            let one = Self.json(try await Self.upload(server, room: f, name: "one", bytes))
            let two = Self.json(try await Self.upload(server, room: f, name: "two", bytes))
            let first = try #require(one["url"] as? String)
            let second = try #require(two["url"] as? String)
            #expect(first != second)
            #expect(try await server.raw("GET", second).body == bytes)
            let part = try await server.raw("GET", first, headers: [("Range", "bytes=262140-262150")])
            #expect(part.status == 206 && part.body == Array(bytes[262_140...262_150]))
            switch storage {
            case .sqlite:
                #expect(try await SQLiteFileStoreProbe.contentCount(path: server.databasePath) == 1)
            case .postgres:
                let ids = [try #require(one["id"] as? String), try #require(two["id"] as? String)]
                #expect(try await PostgresFileProbe.contentCount(ids: ids) == 1)
            }
        }
    }
}

/// Reads the database file directly, beside the running server.
enum SQLiteFileStoreProbe {
    static func contentCount(path: String) async throws -> Int {
        let queue = try GRDB.DatabaseQueue(path: path)
        return try await queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM file_contents WHERE hash IS NOT NULL") ?? 0 }
    }
}

/// Asks the shared PostgreSQL directly, beside the running server.
enum PostgresFileProbe {
    /// How many contents the files with these ids use.
    static func contentCount(ids: [String]) async throws -> Int {
        let settings = try PostgresSettings(url: try #require(TestPostgres.url))
        let logger = Logger.quiet
        let connection = try await PostgresConnection.connect(configuration: try settings.connectionConfiguration, id: 1, logger: logger)
        var count: Int64 = 0
        do {
            let rows = try await connection.query("SELECT count(DISTINCT content_id)::BIGINT FROM files WHERE id = ANY(\(ids))", logger: logger)
            for try await value in rows.decode(Int64.self) { count = value }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return Int(count)
    }
}
