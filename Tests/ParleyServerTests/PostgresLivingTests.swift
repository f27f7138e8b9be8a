import Foundation
import ParleyProtocol
import Testing

@testable import ParleyServer

/// PostgreSQL has no living messages or search yet: every §11 command and the §15 route are refused with
/// `unavailable` and a reason, never dropped, and plain messages work as before.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_URL"] != nil,
        "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"
    )
)
struct PostgresLivingTests {
    @Test func livingCommandsAreRefusedWithAReason() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_URL"])
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
                #expect(code == .unavailable && text.contains("PostgreSQL"), "\(command)")
            }
            let search = try await server.http("GET", "/api/rooms/\(room)/search?q=plain")
            #expect(search.status == 503 && search.errorCode == "unavailable")
            let one = try await server.http("GET", "/api/rooms/\(room)/messages/1")
            #expect(one.status == 503 && one.errorCode == "unavailable")
            // Nothing was stored for the refused reply.
            try await alice.send("after")
            #expect(try await alice.nextMessage().id == message.id + 1)
        }
    }
}
