import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// PostgreSQL has no living messages or search yet: every §11 command is refused with `bad_request` (so
/// clients drop it rather than resend it forever) and the §15 route with `unavailable`, each with a
/// reason; plain messages and `GET …/messages/{id}` work as before.
@Suite(
    .enabled(
        if: TestPostgres.url != nil,
        "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"
    )
)
struct PostgresLivingTests {
    @Test func livingCommandsAreRefusedWithAReason() async throws {
        let url = try #require(TestPostgres.url)
        try await withServer(.set(\.database, .postgres(url))) { server in
            let room = "pgliving\(UUID().uuidString.prefix(8).lowercased())"
            let (alice, welcome) = try await server.join("room=\(room)&nick=alice")
            #expect(welcome.rev == 0)
            try await alice.send("plain")
            let message = try await alice.nextMessage()
            #expect(message.isPlain)
            let commands: [ClientCommand] = [
                .message(text: "reply", clientID: "r1", replyTo: message.id), .edit(id: message.id, text: "x"), .delete(id: message.id),
                .react(id: message.id, emoji: "👍"), .unreact(id: message.id, emoji: "👍"),
            ]
            for command in commands {
                try await alice.send(command)
                let (code, text) = try await alice.next { event -> (ErrorCode, String)? in
                    if case .error(let code, let text, _) = event { return (code, text) }
                    return nil
                }
                #expect(code == .badRequest && text.contains("PostgreSQL"), "\(command)")
            }
            let search = try await server.http("GET", "/api/rooms/\(room)/search?q=plain")
            #expect(search.status == 503 && search.errorCode == "unavailable")
            // One message needs nothing new: it is read as history is.
            let one = try await server.http("GET", "/api/rooms/\(room)/messages/\(message.id)")
            #expect(one.status == 200 && one.json["text"] as? String == "plain")
            #expect(try await server.http("GET", "/api/rooms/\(room)/messages/99").status == 404)
            #expect(try await server.http("GET", "/api/rooms/\(room)/messages/\(Int64.max)").status == 404)
            // Nothing was stored for the refused reply.
            try await alice.send("after")
            #expect(try await alice.nextMessage().id == message.id + 1)
        }
    }
}
