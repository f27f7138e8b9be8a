import Foundation
import JWTKit
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Signed identities (contract §13) over real sockets, with HS256 tokens minted here by jwt-kit. The PEM key
/// kinds (RS256, ES256, EdDSA) are tested against the real binary in e2e/cli/test_identity.py.
@Suite struct IdentityTests {
    static let secret = "a-test-secret-of-at-least-32-bytes!!"

    /// An HS256 token signed with `secret`.
    static func token(
        sub: String,
        nick: String? = nil,
        rooms: [String]? = nil,
        role: String? = nil,
        expiresIn seconds: TimeInterval = 3600,
        secret: String = IdentityTests.secret
    ) async throws -> String {
        let keys = await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let claims = IdentityClaims(
            sub: SubjectClaim(value: sub),
            exp: ExpirationClaim(value: Date(timeIntervalSinceNow: seconds)),
            nick: nick,
            rooms: rooms,
            role: role
        )
        return try await keys.sign(claims)
    }

    static var withSecret: Setting { Setting.set(\.authSecret, secret) }

    @Test(arguments: TestStorage.available) func aVerifiedMemberHasTheTokensNickAndItsMessagesAreVerified(storage: TestStorage) async throws {
        let room = storage.room("v")
        try await withServer(Self.withSecret, storage.setting) { server in
            let token = try await Self.token(sub: "user-1", nick: "Alice")
            let (alice, welcome) = try await server.join("room=\(room)&nick=mallory&auth=\(token)")
            #expect(welcome.nick == "Alice")
            // An anonymous client asking for the verified nick gets the clash suffix.
            let (anon, anonWelcome) = try await server.join("room=\(room)&nick=alice")
            #expect(anonWelcome.nick == "alice-2")
            try await anon.send(.nick("ALICE"))
            #expect(try await anon.nextError() == .nickTaken)
            // The verified nick is the token's: it cannot be changed.
            try await alice.send(.nick("someone"))
            #expect(try await alice.nextError() == .forbidden)

            try await alice.send(.message(text: "signed", clientID: "c1"))
            let signed = try await anon.nextMessage()
            #expect(signed.nick == "Alice" && signed.verified == true)
            try await anon.send(.message(text: "unsigned", clientID: "c2"))
            let unsigned = try await alice.nextMessage { $0.text == "unsigned" }
            #expect(unsigned.verified == nil)

            // A resend is answered with the original, still verified.
            try await alice.send(.message(text: "signed", clientID: "c1"))
            #expect(try await alice.nextMessage { $0.text == "signed" }.verified == true)

            // History and HTTP carry the flag too.
            let page = try await server.http("GET", "/api/rooms/\(room)/messages")
            #expect(page.body.contains(#""verified":true"#))
            let (late, lateWelcome) = try await server.join("room=\(room)&nick=late")
            #expect(lateWelcome.history.map(\.verified) == [true, nil])
            // The welcome says who of its members is verified.
            #expect(lateWelcome.members == ["Alice", "alice-2", "late"] && lateWelcome.verifiedMembers == ["Alice"])
            #expect(anonWelcome.verifiedMembers == ["Alice"] && welcome.verifiedMembers == ["Alice"])
            for socket in [alice, anon, late] { socket.close() }
        }
    }

    @Test func anAnonymousHolderOfTheNickMovesToTheSuffixWhenTheSubjectArrives() async throws {
        try await withServer(Self.withSecret) { server in
            let (carol, _) = try await server.join("room=r&nick=carol")
            let token = try await Self.token(sub: "carol-id", nick: "carol")
            let (verified, welcome) = try await server.join("room=r&auth=\(token)")
            #expect(welcome.nick == "carol" && welcome.members == ["carol-2", "carol"])
            let moved = try await carol.next { event -> (String, String)? in
                if case .nick(let from, let to, _) = event { return (from, to) }
                return nil
            }
            #expect(moved == ("carol", "carol-2"))
            #expect(try await carol.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "carol")
            for socket in [carol, verified] { socket.close() }
        }
    }

    @Test(arguments: TestStorage.available) func connectionsOfOneSubjectAreOneMemberAndShareTheirMessages(storage: TestStorage) async throws {
        let room = storage.room("s")
        try await withServer(Self.withSecret, storage.setting) { server in
            let (bob, _) = try await server.join("room=\(room)&nick=bob")
            let phoneToken = try await Self.token(sub: "dana-id", nick: "dana")
            let (phone, _) = try await server.join("room=\(room)&auth=\(phoneToken)")
            #expect(try await bob.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "dana")
            let laptopToken = try await Self.token(sub: "dana-id", nick: "dana")
            let (laptop, welcome) = try await server.join("room=\(room)&auth=\(laptopToken)")
            #expect(welcome.nick == "dana" && welcome.members == ["bob", "dana"])
            let details = try await server.http("GET", "/api/rooms/\(room)")
            #expect(details.json["members"] as? [String] == ["bob", "dana"])

            // Sent from the phone, edited and deleted from the laptop: authorship is by subject.
            try await phone.send(.message(text: "from the phone", clientID: "p1"))
            let sent = try await laptop.nextMessage()
            #expect(sent.verified == true)
            try await laptop.send(.edit(id: sent.id, text: "edited on the laptop"))
            let edited = try await bob.nextUpdate().1
            #expect(edited.text == "edited on the laptop" && edited.verified == true)
            try await laptop.send(.delete(id: sent.id))
            #expect(try await phone.nextUpdate(after: 1).1.deleted == true)

            // The phone goes: once the server has let it go (two connections left), the member is still listed
            // and nobody was told of a leave.
            #expect(try await bob.nextUpdate(after: 1).1.deleted == true)
            try await phone.sendClose()
            _ = try await phone.closeCode()
            try await eventually {
                let metrics = try await server.http("GET", "/metrics").body
                guard metrics.contains("parley_connections 2") else { throw RawSocket.Failure.unexpected("still 3 connections") }
            }
            #expect(try await server.http("GET", "/api/rooms/\(room)").json["members"] as? [String] == ["bob", "dana"])
            // Presence events reach bob in order: had the phone's going sent a leave, it would come before carl's join.
            let (carl, _) = try await server.join("room=\(room)&nick=carl")
            let presence = try await bob.next { event -> ServerEvent? in
                switch event {
                case .join, .leave: return event
                default: return nil
                }
            }
            guard case .join(let joined, _) = presence else { throw RawSocket.Failure.unexpected("\(presence) before carl's join") }
            #expect(joined == "carl")
            // The last connection goes: now dana leaves.
            laptop.close()
            #expect(try await bob.next { if case .leave(let nick, _) = $0 { nick } else { nil } } == "dana")
            for socket in [bob, carl] { socket.close() }
        }
    }

    @Test func tokensThatProveNothingAreRefusedWith401BeforeTheUpgrade() async throws {
        try await withServer(Self.withSecret) { server in
            let wrongKey = try await Self.token(sub: "u", secret: "another-secret-of-at-least-32-bytes!!")
            let expired = try await Self.token(sub: "u", expiresIn: -10)
            let otherRoom = try await Self.token(sub: "u", rooms: ["elsewhere"])
            let badNick = try await Self.token(sub: "u", nick: "\u{7}bell")
            let badRole = try await Self.token(sub: "u", role: "admin")
            for token in [wrongKey, expired, otherRoom, badNick, badRole, "not-a-jwt", "a.b.c"] {
                let refusal = try await refused { try await server.connect("room=here&auth=\(token)") }
                #expect(refusal.status == 401 && refusal.body.contains(#""code":"unauthorized""#), "\(refusal.body)")
            }
            let refusal = try await refused { try await server.connect("room=here&auth=\(expired)") }
            #expect(refusal.body.contains("expired"))
            // Its own room is fine; no token is fine under `optional`.
            let fine = try await Self.token(sub: "u", rooms: ["here"])
            let (socket, welcome) = try await server.join("room=here&auth=\(fine)")
            #expect(welcome.nick == "u")
            let (anonymous, _) = try await server.join("room=here&nick=anon")
            for socket in [socket, anonymous] { socket.close() }
        }
        try await withServer(Self.withSecret, .set(\.auth, .required)) { server in
            let refusal = try await refused { try await server.connect("room=here&nick=anon") }
            #expect(refusal.status == 401 && refusal.body.contains(#""code":"unauthorized""#))
            let token = try await Self.token(sub: "u")
            let (socket, _) = try await server.join("room=here&auth=\(token)")
            socket.close()
        }
        // A server with no key cannot check a token, so it does not pretend to.
        try await withServer { server in
            let token = try await Self.token(sub: "u")
            #expect(try await refused { try await server.connect("room=here&auth=\(token)") }.status == 401)
        }
    }

    @Test(arguments: TestStorage.available) func bearerTokensOnHTTPPostAsTheVerifiedNickOrAreRefusedWith401(storage: TestStorage) async throws {
        let room = storage.room("h")
        try await withServer(Self.withSecret, .set(\.auth, .required), storage.setting) { server in
            let body = #"{"nick":"mallory","text":"over http"}"#
            let missing = try await server.http("POST", "/api/rooms/\(room)/messages", body: body)
            #expect(missing.status == 401 && missing.errorCode == "unauthorized")
            let otherRoom = try await Self.token(sub: "u", rooms: ["elsewhere"])
            let wrong = try await server.http("POST", "/api/rooms/\(room)/messages", body: body, headers: [("Authorization", "Bearer \(otherRoom)")])
            #expect(wrong.status == 401 && wrong.errorCode == "unauthorized")
            let expired = try await Self.token(sub: "u", expiresIn: -5)
            let late = try await server.http("POST", "/api/rooms/\(room)/messages", body: body, headers: [("Authorization", "Bearer \(expired)")])
            #expect(late.status == 401)

            let token = try await Self.token(sub: "u", nick: "Ursula", rooms: [room])
            let (watcher, _) = try await server.join("room=\(room)&auth=\(token)")
            let posted = try await server.http("POST", "/api/rooms/\(room)/messages", body: body, headers: [("Authorization", "Bearer \(token)")])
            #expect(posted.status == 201 && posted.json["nick"] as? String == "Ursula" && posted.json["verified"] as? Bool == true)
            let seen = try await watcher.nextMessage()
            #expect(seen.verified == true && seen.nick == "Ursula")
            watcher.close()
        }
    }

    /// Under `--auth required` a Bearer value that is not a token must be a key that grants something in the
    /// room (or the admin token); anything else is no token at all.
    @Test func aBearerValueThatIsNeitherTokenNorKeyIsRefusedUnderAuthRequired() async throws {
        try await withServer(Self.withSecret, .set(\.auth, .required), .set(\.adminToken, RoomOwnerTests.adminToken)) { server in
            // The admin token creates a room, and its owner key posts there.
            let admin = [("Authorization", "Bearer \(RoomOwnerTests.adminToken)")]
            let room = try await server.http("POST", "/api/rooms", body: "{}", headers: admin)
            #expect(room.status == 201)
            let code = try #require(room.json["code"] as? String)
            let ownerKey = try #require(room.json["owner_key"] as? String)
            let byOwner = try await server.http(
                "POST",
                "/api/rooms/\(code)/messages",
                body: #"{"nick":"olga","text":"x"}"#,
                headers: [("Authorization", "Bearer \(ownerKey)")]
            )
            #expect(byOwner.status == 201)

            let junk = [("Authorization", "Bearer not-a-key")]
            let created = try await server.http("POST", "/api/rooms", body: "{}", headers: junk)
            #expect(created.status == 401 && created.errorCode == "unauthorized")
            let posted = try await server.http("POST", "/api/rooms/\(code)/messages", body: #"{"nick":"m","text":"x"}"#, headers: junk)
            #expect(posted.status == 401 && posted.errorCode == "unauthorized")
            let uploaded = try await server.raw(
                "POST",
                "/api/rooms/\(code)/files?name=a.png",
                headers: junk + [("Content-Type", "image/png")],
                body: FileTests.png
            )
            #expect(uploaded.status == 401)
        }
    }

    @Test func aTokensRoleModeratesTheRoomsItListsOverWebSocketAndHTTP() async throws {
        try await withServer(Self.withSecret) { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            let (troll, _) = try await server.join("room=\(code)&nick=troll")
            let moderatorToken = try await Self.token(sub: "mod-id", nick: "mod", rooms: [code], role: "moderator")
            let (moderator, welcome) = try await server.join("room=\(code)&auth=\(moderatorToken)")
            #expect(welcome.role == .moderator)
            try await moderator.send(.kick(nick: "troll"))
            #expect(try await troll.closeCode() == CloseCode.kicked.rawValue)

            // In a locked room a token without a role may not post over HTTP; the moderator's token may.
            try await owner.send(.room(RoomChange(locked: true)))
            _ = try await moderator.next { if case .room(let info) = $0 { info } else { nil } }
            let body = #"{"nick":"web","text":"locked"}"#
            let memberToken = try await Self.token(sub: "member-id", nick: "meg", rooms: [code])
            let member = try await server.http(
                "POST",
                "/api/rooms/\(code)/messages",
                body: body,
                headers: [("Authorization", "Bearer \(memberToken)")]
            )
            #expect(member.status == 403)
            let posted = try await server.http(
                "POST",
                "/api/rooms/\(code)/messages",
                body: body,
                headers: [("Authorization", "Bearer \(moderatorToken)")]
            )
            #expect(posted.status == 201 && posted.json["nick"] as? String == "mod" && posted.json["verified"] as? Bool == true)
            for socket in [owner, moderator] { socket.close() }
        }
    }

    @Test(arguments: TestStorage.available) func anExpiredTokenClosesWith4005AndAFreshOneResumesWithNothingLost(storage: TestStorage) async throws {
        let room = storage.room("e")
        try await withServer(Self.withSecret, storage.setting) { server in
            let (bob, _) = try await server.join("room=\(room)&nick=bob")
            // Long enough for eve to join and post first with every suite running at once (2 s was not).
            let short = try await Self.token(sub: "eve-id", nick: "eve", expiresIn: 5)
            let (eve, _) = try await server.join("room=\(room)&auth=\(short)")
            try await eve.send(.message(text: "before", clientID: "e1"))
            let before = try await eve.nextMessage()
            // Bob keeps talking while eve's token runs out; eve is closed 4005 at `exp`.
            var closed: (UInt16?, String)?
            var sent = 0
            while closed == nil {
                try await bob.send(.message(text: "while \(sent)", clientID: "b\(sent)"))
                sent += 1
                do {
                    while true {
                        guard let frame = try await eve.frame(within: .milliseconds(200)) else { break }
                        if frame.opcode == 0x8 {
                            closed = (frame.closeCode, frame.closeReason)
                            break
                        }
                    }
                } catch RawSocket.Failure.closed(let code, let reason) {
                    closed = (code, reason)
                }
            }
            // Says how eve was closed when it was not for her token (seen once, on PostgreSQL, under the whole suite).
            #expect(closed?.0 == 4005 && closed?.1 == "token expired", "eve was closed with \(String(describing: closed))")
            try await bob.send(.message(text: "after", clientID: "after"))
            let after = try await bob.nextMessage(where: { $0.text == "after" })

            let fresh = try await Self.token(sub: "eve-id", nick: "eve")
            let (back, welcome) = try await server.join("room=\(room)&auth=\(fresh)&since=\(before.id)")
            #expect(welcome.nick == "eve")
            #expect(welcome.history.map(\.id) == Array((before.id + 1)...after.id))
            #expect(welcome.history.count == sent + 1)
            // Its own earlier message is still verified in history.
            let (reader, all) = try await server.join("room=\(room)&nick=reader")
            #expect(all.history.first?.verified == true && all.history.first?.text == "before")
            for socket in [bob, back, reader] { socket.close() }
        }
    }
}

extension RawSocket {
    func nextMessage(where match: (ChatMessage) -> Bool) async throws -> ChatMessage {
        while true {
            let message = try await nextMessage()
            if match(message) { return message }
        }
    }
}
