import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Follow-ups to room owners (§12) and files (§14) where the two meet, over real sockets.
@Suite struct RoomRulesFollowUpTests {
    enum NotYet: Error { case stillAMember }

    /// A new room with its owner `olga` and a member `mel` connected, in slow mode of an hour, once `mel` has
    /// heard of it.
    static func slowRoom(_ server: TestServer) async throws -> (code: String, owner: RawSocket, member: RawSocket) {
        let (code, key, _) = try await RoomOwnerTests.createRoom(server)
        let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
        let (member, _) = try await server.join("room=\(code)&nick=mel")
        try await owner.send(.room(RoomChange(slowMode: 3600)))
        _ = try await member.next { event -> Bool? in
            if case .room(let info) = event, info.slowMode == 3600 { return true }
            return nil
        }
        return (code, owner, member)
    }

    @Test func anUploadDoesNotStartSlowModeItsMessageDoes() async throws {
        try await withServer { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            try await owner.send(.room(RoomChange(slowMode: 3600)))
            _ = try await owner.next { event -> Bool? in
                if case .room(let info) = event, info.slowMode == 3600 { return true }
                return nil
            }
            let uploaded = try await FileTests.upload(server, room: code)
            #expect(uploaded.status == 201)
            let id = try #require(FileTests.json(uploaded)["id"] as? String)
            let post = try await server.http("POST", "/api/rooms/\(code)/messages", body: #"{"nick":"web","text":"","attachments":["\#(id)"]}"#)
            #expect(post.status == 201)
            // The message started the interval: the next one waits.
            let again = try await server.http("POST", "/api/rooms/\(code)/messages", body: #"{"nick":"web","text":"more"}"#)
            #expect(again.status == 429)
        }
    }

    /// Only stored messages start slow mode's interval, and a resend is answered with its original rather than
    /// refused (§5: not counted by the rate limit), over WebSocket and HTTP.
    @Test func aRefusedMessageCostsNoSlowModeTimeAndAResendGetsItsOriginal() async throws {
        try await withServer { server in
            let (code, owner, member) = try await Self.slowRoom(server)
            try await member.send(#"{"type":"message","text":"to nothing","reply_to":999}"#)
            #expect(try await member.nextError() == .notFound)
            try await member.send(#"{"type":"message","text":"hello","client_id":"c1"}"#)
            let stored = try await member.nextMessage()
            #expect(stored.text == "hello")
            try await member.send(#"{"type":"message","text":"hello","client_id":"c1"}"#)
            let resent = try await member.nextMessage()
            #expect(resent.id == stored.id)
            try await member.send(#"{"type":"message","text":"hello","client_id":"c2"}"#)
            #expect(try await member.nextError() == .rateLimited)

            let body = #"{"nick":"web","text":"over http","client_id":"h1"}"#
            let first = try await server.http("POST", "/api/rooms/\(code)/messages", body: body)
            #expect(first.status == 201)
            let again = try await server.http("POST", "/api/rooms/\(code)/messages", body: body)
            #expect(again.status == 200 && again.json["id"] as? Int == first.json["id"] as? Int)
            let other = try await server.http("POST", "/api/rooms/\(code)/messages", body: #"{"nick":"web","text":"new","client_id":"h2"}"#)
            #expect(other.status == 429)
            for socket in [owner, member] { socket.close() }
        }
    }

    /// A message slow mode refuses with a `client_id` is looked up in storage (it may be a resend), and that read
    /// takes a rate-limit token: a client cannot make the server read storage for every refusal.
    @Test func aSlowModeRefusalWithAClientIDTakesAToken() async throws {
        try await withServer(.set(\.rateBurst, 3), .set(\.ratePerSecond, 0.01)) { server in
            let (_, owner, member) = try await Self.slowRoom(server)
            try await member.send(.message(text: "first", clientID: "c0"))
            _ = try await member.nextMessage()
            var answers: [String] = []
            for n in 1...4 {
                try await member.send(.message(text: "more", clientID: "c\(n)"))
                answers.append(try await member.next { if case .error(.rateLimited, let message, _) = $0 { message } else { nil } })
            }
            // Two tokens were left: two lookups, then the rate limit itself.
            #expect(answers.map { $0.contains("slow mode") } == [true, true, false, false], "\(answers)")
            for socket in [owner, member] { socket.close() }
        }
    }

    /// A locked room takes no edits or reactions from members (§12), but a member may still take back its own
    /// reaction and delete its own message.
    @Test func inALockedRoomAMemberMayTakeBackButNotAdd() async throws {
        try await withServer { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            let (member, _) = try await server.join("room=\(code)&nick=mel")
            try await member.send("mine")
            let mine = try await member.nextMessage()
            try await member.send(.react(id: mine.id, emoji: "👍"))
            _ = try await member.next { if case .update(_, let message) = $0, message.reactions != nil { true } else { nil } }
            try await owner.send(.room(RoomChange(locked: true)))
            _ = try await member.next { if case .room(let info) = $0, info.locked == true { true } else { nil } }

            try await member.send(.edit(id: mine.id, text: "changed"))
            #expect(try await member.nextError() == .forbidden)
            try await member.send(.react(id: mine.id, emoji: "🎉"))
            #expect(try await member.nextError() == .forbidden)
            try await member.send(.unreact(id: mine.id, emoji: "👍"))
            let unreacted = try await member.next { event -> ChatMessage? in
                if case .update(_, let message) = event { return message }
                if case .error(let code, _, _) = event { Issue.record("unreact refused: \(code)") }
                return nil
            }
            #expect((unreacted.reactions ?? []).isEmpty && unreacted.text == "mine")
            try await member.send(.delete(id: mine.id))
            let deleted = try await member.next { event -> ChatMessage? in
                if case .update(_, let message) = event { return message }
                if case .error(let code, _, _) = event { Issue.record("delete refused: \(code)") }
                return nil
            }
            #expect(deleted.deleted == true)
            for socket in [owner, member] { socket.close() }
        }
    }

    @Test func roomDetailsCarryTheSettings() async throws {
        try await withServer { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server, name: "plain")
            let before = try await server.http("GET", "/api/rooms/\(code)")
            #expect(before.status == 200)
            #expect(before.json["topic"] is NSNull && before.json["locked"] as? Bool == false && before.json["slow_mode"] as? Int == 0)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            try await owner.send(.room(RoomChange(name: .some("renamed"), topic: .some("be kind"), locked: true, slowMode: 30)))
            _ = try await owner.next { event -> Bool? in
                if case .room(let info) = event, info.slowMode == 30 { return true }
                return nil
            }
            let live = try await server.http("GET", "/api/rooms/\(code)")
            #expect(live.json["name"] as? String == "renamed" && live.json["topic"] as? String == "be kind")
            #expect(live.json["locked"] as? Bool == true && live.json["slow_mode"] as? Int == 30)
            // With nobody connected, the stored settings.
            owner.close()
            var stored = live
            try await eventually {
                stored = try await server.http("GET", "/api/rooms/\(code)")
                guard (stored.json["members"] as? [String])?.isEmpty == true else { throw NotYet.stillAMember }
            }
            #expect(stored.json["topic"] as? String == "be kind" && stored.json["locked"] as? Bool == true)
            #expect(stored.json["slow_mode"] as? Int == 30 && stored.json["name"] as? String == "renamed")
        }
    }

    /// A plain `GET /ws` (no upgrade headers) is refused as the upgrade would be, before its `400`.
    @Test func thePlainWebSocketRouteChecksKeysAndBans() async throws {
        try await withServer(RoomOwnerTests.proxied) { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server)
            let plain = { (query: String, address: String) in
                try await server.http("GET", "/ws?\(query)", headers: RoomOwnerTests.from(address)).status
            }
            #expect(try await plain("room=\(code)&nick=ann", "10.0.0.5") == 400)
            #expect(try await plain("room=\(code)&nick=ann&key=made-up", "10.0.0.5") == 403)
            #expect(try await plain("room=\(code)&nick=ann&key=\(key)", "10.0.0.5") == 400)

            let owner = try await server.connect("room=\(code)&nick=olga&key=\(key)", headers: RoomOwnerTests.from("10.0.0.1"))
            _ = try await owner.welcome()
            let troll = try await server.connect("room=\(code)&nick=troll", headers: RoomOwnerTests.from("10.0.0.66"))
            _ = try await troll.welcome()
            try await owner.send(.ban(nick: "troll", seconds: nil))
            #expect(try await troll.closeCode() == CloseCode.kicked.rawValue)
            #expect(try await plain("room=\(code)&nick=again", "10.0.0.66") == 403)
            #expect(try await plain("room=\(code)&nick=other", "10.0.0.7") == 400)
        }
    }

    /// In open mode a deleted code may be joined again at once: the joiner gets a new, empty room, even while
    /// the old room's members are still being closed.
    @Test func aJoinAfterDeleteGetsANewRoom() async throws {
        try await withServer { server in
            let (code, key, _) = try await RoomOwnerTests.createRoom(server)
            let (owner, _) = try await server.join("room=\(code)&nick=olga&key=\(key)")
            // A member that does not read: its close takes a while.
            let slow = try await server.connect("room=\(code)&nick=mia", readAutomatically: false)
            try await owner.send("soon gone")
            _ = try await owner.nextMessage()
            let deleted = try await server.http("DELETE", "/api/rooms/\(code)", headers: [("Authorization", "Bearer \(key)")])
            #expect(deleted.status == 204)

            let (newcomer, welcome) = try await server.join("room=\(code)&nick=nora")
            #expect(welcome.members == ["nora"])
            #expect(welcome.history.isEmpty && welcome.role == .member)
            #expect(try await owner.closeCode() == CloseCode.roomDeleted.rawValue)
            newcomer.close()
            slow.close()
        }
    }

    /// `--max-total-file-bytes` caps the file content of the whole server, across rooms: `507 too_large`.
    @Test func theServerWideFileCapRefusesAcrossRooms() async throws {
        try await withServer(.set(\.maxTotalFileBytes, 300)) { server in
            _ = try await server.join("room=one&nick=ann")
            _ = try await server.join("room=two&nick=bob")
            // Distinct bytes, so that no two uploads share one stored content.
            #expect(try await FileTests.upload(server, room: "one", FileTests.png + [1]).status == 201)
            #expect(try await FileTests.upload(server, room: "two", FileTests.png + [2]).status == 201)
            let full = try await FileTests.upload(server, room: "two", FileTests.png + [3])
            #expect(full.status == 507 && (FileTests.json(full)["error"] as? [String: Any])?["code"] as? String == "too_large")
            #expect(try await FileTests.upload(server, room: "one", Array(repeating: 9, count: 10)).status == 201)
        }
    }
}

extension RoomRulesFollowUpTests {
    /// The roster shows a removal's reason and drops the members table's plain leave that follows it.
    @Test func aRemovalHidesThePlainLeaveThatFollows() {
        var roster = RemoteRoster()
        let shown = [
            roster.apply(.join(nick: "kim", ts: .now())),
            roster.apply(.removed(nick: "kim", reason: .kicked, ts: .now())),
            roster.apply(.leave(nick: "kim", ts: .now())),
            roster.apply(.join(nick: "kim", ts: .now())),
            roster.apply(.leave(nick: "kim", ts: .now())),
        ]
        #expect(shown == [true, true, false, true, true])
        #expect(roster.nicks.isEmpty)
    }
}

/// A kicked or banned member's `leave` carries its `reason` on every node (§12 on PostgreSQL).
@Suite(.serialized, .enabled(if: TestPostgres.url != nil, "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct ClusterLeaveReasonTests {
    @Test func otherNodesSeeTheReason() async throws {
        try await withTimeout(.seconds(90)) {
            var nodes: [ChildServer] = []
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            for _ in 0..<2 {
                nodes.append(try await ChildServer.start(database: try #require(TestPostgres.url), ["--trusted-proxy", "127.0.0.0/8"]))
            }
            let (here, there) = (nodes[0].server, nodes[1].server)
            let created = try await here.http("POST", "/api/rooms", body: "{}")
            let code = try #require(created.json["code"] as? String)
            let key = try #require(created.json["owner_key"] as? String)
            let owner = try await there.connect("room=\(code)&nick=olga&key=\(key)", headers: ClusterOwnerTests.from("10.0.0.1"))
            _ = try await owner.welcome()

            for (nick, reason) in [("kim", LeaveReason.kicked), ("troll", .banned)] {
                let member = try await here.connect("room=\(code)&nick=\(nick)", headers: ClusterOwnerTests.from("10.0.1.\(nick.count)"))
                _ = try await member.welcome()
                try await eventually {
                    try await owner.send(reason == .kicked ? .kick(nick: nick) : .ban(nick: nick, seconds: nil))
                    try await ClusterOwnerTests.expectClosed(member)
                }
                // The owner, on the other node, hears the leave with its reason, and no plain one after it.
                let seen = try await owner.next { event -> LeaveReason?? in
                    if case .removed(nick, let reason, _) = event { return .some(reason) }
                    if case .leave(nick, _) = event { return .some(nil) }
                    return nil
                }
                #expect(seen == reason)
            }
            let after = try await here.connect("room=\(code)&nick=late", headers: ClusterOwnerTests.from("10.0.0.9"))
            _ = try await after.welcome()
            let next = try await owner.next { event -> String? in
                if case .leave(let nick, _) = event { return "leave \(nick)" }
                if case .join(let nick, _) = event { return "join \(nick)" }
                return nil
            }
            #expect(next == "join late")
        }
    }
}
