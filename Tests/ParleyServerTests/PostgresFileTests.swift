import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Files (§14) across two nodes on one PostgreSQL: a file uploaded through one node is served, attached and
/// deleted through the other. In FileTests' serialized suite, so that its sweep test does not take these files.
extension FileTests {
    @Test(.enabled(if: TestPostgres.url != nil, "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
    func aFileUploadedOnOneNodeIsServedAndAttachedOnAnother() async throws {
        let room = TestStorage.postgres.room("pgfiles")
        try await withServer(TestStorage.postgres.setting) { first in
            try await withServer(TestStorage.postgres.setting) { second in
                let (alice, _) = try await first.join("room=\(room)&nick=alice")
                let (bob, _) = try await second.join("room=\(room)&nick=bob")
                // Three chunks and a bit, with the upload's own bytes so no earlier run's content is reused.
                var bytes = FileTests.png + Array(repeating: UInt8(5), count: 3 * FileChunking.chunkBytes)
                bytes += Array(UUID().uuidString.utf8)
                let created = try await FileTests.upload(first, room: room, name: "big.png", bytes)
                #expect(created.status == 201)
                let id = try #require(FileTests.json(created)["id"] as? String)
                let url = try #require(FileTests.json(created)["url"] as? String)

                let served = try await second.raw("GET", url)
                #expect(served.status == 200 && served.body == bytes)
                #expect(served.headers["etag"] == (try await first.raw("GET", url)).headers["etag"])
                let edge = FileChunking.chunkBytes
                let part = try await second.raw("GET", url, headers: [("Range", "bytes=\(edge - 3)-\(edge + 3)")])
                #expect(part.status == 206 && part.body == Array(bytes[(edge - 3)...(edge + 3)]))

                // Attached on the other node, reaching members of both; a second message cannot take it on either.
                try await bob.send(.message(text: "look", clientID: "c1", attachments: [id]))
                let message = try await bob.nextMessage()
                #expect(message.attachments?.map(\.id) == [id] && message.attachments?.first?.width == 640)
                #expect(try await alice.nextMessage() == message)
                try await alice.send(.message(text: "mine", clientID: nil, attachments: [id]))
                #expect(try await alice.nextError() == .badRequest)
                // A resend is answered with the original, files and all.
                try await bob.send(.message(text: "look", clientID: "c1", attachments: [id]))
                #expect(try await bob.nextMessage() == message)
                let history = try await first.http("GET", "/api/rooms/\(room)/messages")
                #expect(((history.json["messages"] as? [[String: Any]])?.last?["attachments"] as? [[String: Any]])?.first?["url"] as? String == url)

                // An edit keeps the files; a deletion by its author takes them from both nodes.
                try await bob.send(.edit(id: message.id, text: "look!"))
                for socket in [bob, alice] {
                    let (_, edited) = try await socket.nextUpdate()
                    #expect(edited.text == "look!" && edited.attachments == message.attachments)
                }
                try await bob.send(.delete(id: message.id))
                let (_, deleted) = try await alice.nextUpdate()
                #expect(deleted.deleted == true && deleted.attachments == nil)
                #expect(try await second.raw("GET", url).status == 404)
                #expect(try await first.raw("GET", url).status == 404)
            }
        }
    }

    /// Two nodes attaching the same file at the same moment: exactly one message is stored with it.
    @Test(.enabled(if: TestPostgres.url != nil, "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
    func aFileIsAttachedOnceWhenNodesRace() async throws {
        let room = TestStorage.postgres.room("pgrace")
        try await withServer(TestStorage.postgres.setting, .set(\.ratePerSecond, 0)) { first in
            try await withServer(TestStorage.postgres.setting, .set(\.ratePerSecond, 0)) { second in
                let (alice, _) = try await first.join("room=\(room)&nick=alice")
                let (bob, _) = try await second.join("room=\(room)&nick=bob")
                for round in 0..<5 {
                    let created = try await FileTests.upload(first, room: room, name: "r\(round)", FileTests.png + [UInt8(round)])
                    let id = try #require(FileTests.json(created)["id"] as? String)
                    async let a: Void = alice.send(.message(text: "a\(round)", clientID: nil, attachments: [id]))
                    async let b: Void = bob.send(.message(text: "b\(round)", clientID: nil, attachments: [id]))
                    _ = try await (a, b)
                    // Each sender learns its own outcome: its message, or a refusal.
                    var stored = 0
                    for (socket, text) in [(alice, "a\(round)"), (bob, "b\(round)")] {
                        let won = try await socket.next { event -> Bool? in
                            switch event {
                            case .message(let message) where message.text == text: true
                            case .error(let code, _, _): code == .badRequest ? false : nil
                            default: nil
                            }
                        }
                        if won { stored += 1 }
                    }
                    #expect(stored == 1, "round \(round)")
                    let page = try await second.http("GET", "/api/rooms/\(room)/messages")
                    let carrying = (page.json["messages"] as? [[String: Any]] ?? []).filter {
                        ($0["attachments"] as? [[String: Any]])?.first?["id"] as? String == id
                    }
                    #expect(carrying.count == 1, "round \(round)")
                }
            }
        }
    }
}
