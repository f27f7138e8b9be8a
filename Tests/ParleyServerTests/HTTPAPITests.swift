import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

@Suite struct HTTPAPITests {
    @Test func createAndShowPrivateRooms() async throws {
        try await withServer(.set(\.roomCreation, .api)) { server in
            let created = try await server.http("POST", "/api/rooms", body: #"{"name":"Team chat"}"#)
            #expect(created.status == 201)
            let code = try #require(created.json["code"] as? String)
            #expect(created.json["name"] as? String == "Team chat")
            #expect((created.json["url"] as? String)?.hasSuffix("/r/\(code)") == true)
            #expect((created.json["ws_url"] as? String)?.contains("/ws?room=\(code)") == true)
            #expect(Timestamp(created.json["created_at"] as? String ?? "") != nil)

            let unnamed = try await server.http("POST", "/api/rooms")
            #expect(unnamed.status == 201 && unnamed.json["name"] is NSNull)
            let tooLong = try await server.http("POST", "/api/rooms", body: #"{"name":"\#(String(repeating: "é", count: 101))"}"#)
            #expect(tooLong.status == 400 && tooLong.errorCode == "bad_request")
            let badJSON = try await server.http("POST", "/api/rooms", body: "{")
            #expect(badJSON.status == 400 && badJSON.errorCode == "bad_request")

            let (_, _) = try await server.join("room=\(code)&nick=ann")
            let shown = try await server.http("GET", "/api/rooms/\(code)")
            #expect(shown.status == 200)
            #expect(shown.json["members"] as? [String] == ["ann"])
            #expect(shown.json["last_id"] as? Int == 0)
            #expect(try await server.http("GET", "/api/rooms/nosuchroom").status == 404)
            let malformed = try await server.http("GET", "/api/rooms/bad%21code")
            #expect(malformed.status == 400 && malformed.errorCode == "invalid_room")
        }
    }

    @Test func createdRoomLinksUseThePublicURL() async throws {
        try await withServer(.set(\.publicURL, PublicURL("https://chat.example/parley/"))) { server in
            let created = try await server.http("POST", "/api/rooms")
            let code = try #require(created.json["code"] as? String)
            #expect(created.json["url"] as? String == "https://chat.example/parley/r/\(code)")
            #expect(created.json["ws_url"] as? String == "wss://chat.example/parley/ws?room=\(code)")
        }
    }

    @Test func messagePagingAndPosting() async throws {
        try await withServer { server in
            _ = try await server.join("room=p&nick=a")
            for n in 1...12 {
                let reply = try await server.http("POST", "/api/rooms/p/messages", body: #"{"nick":"poster","text":"m\#(n)"}"#)
                #expect(reply.status == 201 && reply.json["id"] as? Int == n)
            }
            func ids(_ path: String) async throws -> ([Int], Bool) {
                let reply = try await server.http("GET", path)
                let messages = reply.json["messages"] as? [[String: Any]] ?? []
                return (messages.compactMap { $0["id"] as? Int }, reply.json["has_more"] as? Bool ?? false)
            }
            #expect(try await ids("/api/rooms/p/messages?limit=5") == ([8, 9, 10, 11, 12], true))
            #expect(try await ids("/api/rooms/p/messages?limit=5&before=4") == ([1, 2, 3], false))
            #expect(try await ids("/api/rooms/p/messages?after=2&limit=3") == ([3, 4, 5], true))
            #expect(try await ids("/api/rooms/p/messages?after=9&before=12") == ([10, 11], false))
            #expect(try await server.http("GET", "/api/rooms/p/messages?limit=0").status == 400)
            #expect(try await server.http("GET", "/api/rooms/p/messages?limit=201").status == 400)
            #expect(try await server.http("GET", "/api/rooms/p/messages?before=x").status == 400)

            let noRoom = try await server.http("POST", "/api/rooms/none/messages", body: #"{"nick":"a","text":"b"}"#)
            #expect(noRoom.status == 404 && noRoom.errorCode == "not_found")
            let badNick = try await server.http("POST", "/api/rooms/p/messages", body: #"{"nick":" ","text":"b"}"#)
            #expect(badNick.status == 400 && badNick.errorCode == "invalid_nick")
            let empty = try await server.http("POST", "/api/rooms/p/messages", body: #"{"nick":"a","text":"  "}"#)
            #expect(empty.status == 400 && empty.errorCode == "bad_request")
        }
    }

    @Test func errorsHealthMetricsAndPages() async throws {
        try await withServer { server in
            let missing = try await server.http("GET", "/no/such/path")
            #expect(missing.status == 404 && missing.errorCode == "not_found")
            let wrongMethod = try await server.http("DELETE", "/api/rooms")
            #expect(wrongMethod.status == 405 && wrongMethod.errorCode == "bad_request")
            #expect(try await server.http("PUT", "/healthz").status == 405)
            let health = try await server.http("GET", "/healthz")
            #expect(health.status == 200 && health.json["status"] as? String == "ok")
            let metrics = try await server.http("GET", "/metrics")
            #expect(metrics.status == 200)
            for name in [
                "parley_connections", "parley_rooms_in_memory", "parley_messages_stored_total", "parley_deliveries_total",
                "parley_slow_consumers_closed_total", "parley_frames_refused_total", "parley_storage_commit_seconds",
            ] {
                #expect(metrics.body.contains(name), "\(name)")
            }
            for path in ["/", "/r/some-room"] {
                let page = try await server.http("GET", path)
                #expect(page.status == 200 && page.body.contains("<html"))
            }
            let plain = try await server.http("GET", "/ws?room=x")
            #expect(plain.status == 400 && plain.errorCode == "bad_request")
        }
    }

    @Test func theOpenAPIDocumentIsServed() async throws {
        try await withServer { server in
            let document = try await server.http("GET", "/api/openapi.json")
            #expect(document.status == 200 && document.json["openapi"] as? String == "3.1.0")
            let paths = try #require(document.json["paths"] as? [String: Any])
            #expect(paths["/api/rooms/{code}/messages"] != nil && paths["/api/openapi.json"] != nil)
            let wrongMethod = try await server.http("POST", "/api/openapi.json")
            #expect(wrongMethod.status == 405 && wrongMethod.errorCode == "bad_request")
        }
    }

    @Test func storageHealthIsAGauge() async throws {
        try await withServer { server in
            let metrics = try await server.http("GET", "/metrics")
            #expect(metrics.body.contains("\nparley_storage_healthy 1"))
        }
    }

    @Test func idleRoomsAreFreed() async throws {
        try await withServer { server in
            for n in 0..<20 {
                let (socket, _) = try await server.join("room=churn\(n)&nick=a")
                socket.close()
            }
            try await eventually {
                let metrics = try await server.http("GET", "/metrics")
                guard metrics.body.contains("parley_rooms_in_memory 0") else { throw TimedOut() }
            }
        }
    }
}
