import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

/// A client can never claim another's `client_id` (contract §8, version 2): a resend is recognised only when
/// its text equals the original's; the same id with other text is refused and stores nothing.
@Suite struct ClientIDTests {
    @Test func aPreClaimedIDIsRefusedOverWebSocketAndTheOriginalResendStillWorks() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (victim, _) = try await server.join("room=claim&nick=victim")
            let (attacker, _) = try await server.join("room=claim&nick=attacker")
            try await victim.send(.message(text: "first", clientID: "cli-1"))
            #expect(try await victim.nextMessage().clientID == "cli-1")
            // The attacker guesses the victim's next id and posts it first.
            try await attacker.send(.message(text: "spoofed", clientID: "cli-2"))
            let spoofed = try await victim.nextMessage()
            #expect(spoofed.text == "spoofed" && spoofed.id == 2)

            try await victim.send(.message(text: "my real line", clientID: "cli-2"))
            guard case .error(let code, _, let clientID) = try await victim.next() else {
                Issue.record("the conflicting message was not refused")
                return
            }
            #expect(code == .badRequest && clientID == "cli-2")
            // A genuine resend (same text) is still answered with the original, to the sender alone.
            #expect(try await attacker.nextMessage().id == 1)
            #expect(try await attacker.nextMessage() == spoofed)
            try await attacker.send(.message(text: "spoofed", clientID: "cli-2"))
            #expect(try await attacker.nextMessage() == spoofed)
            // Nothing was stored for the refused line: the next message takes id 3.
            try await victim.send(.message(text: "my real line", clientID: "cli-3"))
            let stored = try await victim.nextMessage()
            #expect(stored.id == 3 && stored.text == "my real line")
            let history = try await server.http("GET", "/api/rooms/claim/messages").json["messages"] as? [[String: Any]]
            #expect(history?.compactMap { $0["text"] as? String } == ["first", "spoofed", "my real line"])
        }
    }

    @Test func aPreClaimedIDIsRefusedOverHTTPWith409() async throws {
        try await withServer { server in
            let (member, _) = try await server.join("room=claimhttp&nick=m")
            try await member.send(.message(text: "mine", clientID: "h-1"))
            let original = try await member.nextMessage()
            let conflict = try await server.http(
                "POST",
                "/api/rooms/claimhttp/messages",
                body: #"{"nick":"web","text":"not mine","client_id":"h-1"}"#
            )
            #expect(conflict.status == 409 && conflict.errorCode == "bad_request")
            let resend = try await server.http("POST", "/api/rooms/claimhttp/messages", body: #"{"nick":"web","text":"mine","client_id":"h-1"}"#)
            #expect(resend.status == 200 && resend.json["id"] as? Int == Int(original.id))
            // An HTTP post's id is protected the same way against a WebSocket.
            let posted = try await server.http("POST", "/api/rooms/claimhttp/messages", body: #"{"nick":"web","text":"from web","client_id":"h-2"}"#)
            #expect(posted.status == 201)
            _ = try await member.nextMessage()
            try await member.send(.message(text: "other", clientID: "h-2"))
            #expect(try await member.nextError() == .badRequest)
        }
    }

    /// Without rate-limit tokens a resend is looked up rather than stored: the same rule holds there.
    @Test func aConflictingIDIsRefusedWhileRateLimited() async throws {
        try await withServer(.set(\.rateBurst, 1), .set(\.ratePerSecond, 0.01)) { server in
            let (socket, _) = try await server.join("room=claimrate&nick=x")
            try await socket.send(.message(text: "one", clientID: "r-1"))
            _ = try await socket.nextMessage()
            try await socket.send(.message(text: "two", clientID: "r-1"))
            guard case .error(let code, _, let clientID) = try await socket.next() else {
                Issue.record("the conflicting message was not refused")
                return
            }
            #expect(code == .badRequest && clientID == "r-1")
            try await socket.send(.message(text: "one", clientID: "r-1"))
            #expect(try await socket.nextMessage().id == 1)
        }
    }
}
