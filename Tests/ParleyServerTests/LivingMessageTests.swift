import Foundation
import Logging
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Replies, edits, deletions and reactions (contract §11) over real sockets.
@Suite struct LivingMessageTests {
    @Test(arguments: TestStorage.available) func editReactAndDeleteReachEveryMemberAsUpdates(storage: TestStorage) async throws {
        let room = storage.room("living")
        try await withServer(storage.setting) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            let (bob, _) = try await server.join("room=\(room)&nick=bob")
            try await alice.send(.message(text: "helo", clientID: "c1"))
            let original = try await alice.nextMessage()
            #expect(try await bob.nextMessage() == original)

            try await alice.send(.edit(id: original.id, text: "hello"))
            for socket in [alice, bob] {
                let (rev, message) = try await socket.nextUpdate()
                #expect(rev == 1 && message.text == "hello" && message.editedAt != nil && message.clientID == "c1")
            }

            try await bob.send(.react(id: original.id, emoji: "👍"))
            #expect(try await alice.nextUpdate().0 == 2)
            try await alice.send(.react(id: original.id, emoji: "🎉"))
            try await alice.send(.react(id: original.id, emoji: "👍"))
            var last: ChatMessage?
            for expected in Int64(2)...4 {
                let (rev, message) = try await bob.nextUpdate()
                #expect(rev == expected)
                last = message
            }
            #expect(last?.reactions == [Reaction(emoji: "👍", nicks: ["bob", "alice"]), Reaction(emoji: "🎉", nicks: ["alice"])])

            // A reaction already there, and one not there to remove: nothing happens, no revision is taken.
            try await bob.send(.react(id: original.id, emoji: "👍"))
            try await bob.send(.unreact(id: original.id, emoji: "🎉"))
            try await bob.send(.ping)
            guard case .pong = try await bob.next() else { throw RawSocket.Failure.unexpected("pong first") }

            try await bob.send(.unreact(id: original.id, emoji: "👍"))
            let (unreacted, withoutBob) = try await alice.nextUpdate(after: 4)
            #expect(unreacted == 5 && withoutBob.reactions?.first?.nicks == ["alice"])

            try await alice.send(.delete(id: original.id))
            let (deletedRev, deleted) = try await bob.nextUpdate(after: 5)
            #expect(deletedRev == 6 && deleted.deleted == true && deleted.text == "" && deleted.reactions == nil)

            // History and HTTP show the current state; the room's revision is in `welcome`.
            let (carol, welcome) = try await server.join("room=\(room)&nick=carol")
            #expect(welcome.rev == 6 && welcome.history.first == deleted)
            let reply = try await server.http("GET", "/api/rooms/\(room)/messages/\(original.id)")
            #expect(reply.status == 200 && reply.json["deleted"] as? Bool == true && reply.json["text"] as? String == "")
            #expect(try await server.http("GET", "/api/rooms/\(room)/messages/99").status == 404)
            #expect(try await server.http("GET", "/api/rooms/\(room)/messages/\(Int64.max)").status == 404)
            #expect(try await server.http("GET", "/api/rooms/\(room)/messages/x").status == 404)
            #expect(try await server.http("GET", "/api/rooms/nowhere/messages/1").status == 404)
            carol.close()
        }
    }

    @Test(arguments: TestStorage.available) func authorRulesAndErrors(storage: TestStorage) async throws {
        let room = storage.room("rules")
        try await withServer(storage.setting) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            let (bob, _) = try await server.join("room=\(room)&nick=bob")
            try await alice.send("mine")
            let message = try await alice.nextMessage()
            try await bob.send(.edit(id: message.id, text: "yours"))
            #expect(try await bob.nextError() == .forbidden)
            try await bob.send(.delete(id: message.id))
            #expect(try await bob.nextError() == .forbidden)
            try await bob.send(.edit(id: 42, text: "x"))
            #expect(try await bob.nextError() == .notFound)
            try await bob.send(.react(id: 42, emoji: "👍"))
            #expect(try await bob.nextError() == .notFound)
            try await alice.send(.edit(id: message.id, text: "   "))
            #expect(try await alice.nextError() == .badRequest)
            try await alice.send(.edit(id: message.id, text: String(repeating: "x", count: 5000)))
            #expect(try await alice.nextError() == .tooLarge)

            // HTTP posts have no author: nobody can edit or delete them.
            let posted = try await server.http("POST", "/api/rooms/\(room)/messages", body: #"{"nick":"web","text":"from http"}"#)
            let postedID = try #require(posted.json["id"] as? Int)
            try await alice.send(.edit(id: Int64(postedID), text: "taken over"))
            #expect(try await alice.nextError() == .forbidden)
            try await alice.send(.delete(id: Int64(postedID)))
            #expect(try await alice.nextError() == .forbidden)

            // A deleted message cannot be edited, reacted to or deleted again.
            try await alice.send(.delete(id: message.id))
            _ = try await alice.nextUpdate()
            try await alice.send(.edit(id: message.id, text: "back"))
            #expect(try await alice.nextError() == .notFound)
            try await alice.send(.react(id: message.id, emoji: "👍"))
            #expect(try await alice.nextError() == .notFound)
        }
    }

    @Test(arguments: TestStorage.available) func repliesNameAMessageOfTheRoom(storage: TestStorage) async throws {
        let room = storage.room("replies")
        try await withServer(storage.setting) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("question")
            let question = try await alice.nextMessage()
            try await alice.send(.message(text: "answer", clientID: "a1", replyTo: question.id))
            let answer = try await alice.nextMessage()
            #expect(answer.replyTo == question.id && answer.id == question.id + 1)
            try await alice.send(.message(text: "to nothing", clientID: "a2", replyTo: 99))
            let refused = try await alice.next { event -> (ErrorCode, String?)? in
                if case .error(let code, _, let clientID) = event { return (code, clientID) }
                return nil
            }
            #expect(refused.0 == .notFound && refused.1 == "a2")
            // Nothing was stored for it: the next message takes the next id.
            try await alice.send("after")
            #expect(try await alice.nextMessage().id == answer.id + 1)
            let page = try await server.http("GET", "/api/rooms/\(room)/messages")
            let messages = try #require(page.json["messages"] as? [[String: Any]])
            #expect(messages.map { $0["reply_to"] as? Int } == [nil, Int(question.id), nil])
        }
    }

    @Test(arguments: TestStorage.available) func atMostTwentyDistinctEmoji(storage: TestStorage) async throws {
        let room = storage.room("emoji")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("react to me")
            let message = try await alice.nextMessage()
            let emoji = (0..<21).map { String(UnicodeScalar(0x1F600 + $0)!) }
            for item in emoji.prefix(20) { try await alice.send(.react(id: message.id, emoji: item)) }
            for _ in 0..<20 { _ = try await alice.nextUpdate() }
            try await alice.send(.react(id: message.id, emoji: emoji[20]))
            #expect(try await alice.nextError() == .tooLarge)
            // Another member may still add one of the twenty.
            let (bob, _) = try await server.join("room=\(room)&nick=bob")
            try await bob.send(.react(id: message.id, emoji: emoji[0]))
            let (_, state) = try await bob.nextUpdate()
            #expect(state.reactions?.count == 20 && state.reactions?.first?.nicks == ["alice", "bob"])
        }
    }

    /// At most `Limits.maxReactors` members react to one message: one more is `too_large`, while a member who
    /// reacted already may add another emoji.
    @Test(arguments: TestStorage.available) func atMostOneHundredReactors(storage: TestStorage) async throws {
        let room = storage.room("reactors")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("react to me")
            let message = try await alice.nextMessage()
            for n in 1...Limits.maxReactors {
                let (member, _) = try await server.join("room=\(room)&nick=r\(n)")
                try await member.send(.react(id: message.id, emoji: "👍"))
                _ = try await member.nextUpdate()
                member.close()
            }
            let (late, _) = try await server.join("room=\(room)&nick=late")
            try await late.send(.react(id: message.id, emoji: "👍"))
            #expect(try await late.nextError() == .tooLarge)
            let (first, _) = try await server.join("room=\(room)&nick=r1")
            // Not the same session: `r1` is a new member, refused too.
            try await first.send(.react(id: message.id, emoji: "🎉"))
            #expect(try await first.nextError() == .tooLarge)
            let reply = try await server.http("GET", "/api/rooms/\(room)/messages/\(message.id)")
            let reactions = try #require(reply.json["reactions"] as? [[String: Any]])
            #expect((reactions.first?["nicks"] as? [String])?.count == Limits.maxReactors)
        }
    }

    /// A resend (same `client_id`) of a message edited meanwhile is answered with the message, not refused as
    /// another message taking its id: the stored text is no longer the one the client sent.
    @Test(arguments: TestStorage.available) func resendOfAnEditedMessageIsAnswered(storage: TestStorage) async throws {
        let room = storage.room("resend")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send(.message(text: "helo", clientID: "c1"))
            let original = try await alice.nextMessage()
            try await alice.send(.edit(id: original.id, text: "hello"))
            _ = try await alice.nextUpdate()
            try await alice.send(.message(text: "helo", clientID: "c1"))
            let answer = try await alice.next { event -> ServerEvent? in
                switch event {
                case .message, .error: event
                default: nil
                }
            }
            guard case .message(let resent) = answer else { throw RawSocket.Failure.unexpected("\(answer)") }
            #expect(resent.id == original.id && resent.text == "hello" && resent.editedAt != nil)
            try await alice.send("next")
            #expect(try await alice.nextMessage().id == original.id + 1)
        }
    }

    /// Two spellings of one emoji (composed and decomposed) are one reaction: the second is already there, and
    /// the twenty-emoji cap cannot be passed by spelling one emoji many ways.
    @Test(arguments: TestStorage.available) func canonicallyEqualEmojiAreOneReaction(storage: TestStorage) async throws {
        let room = storage.room("spelling")
        try await withServer(storage.setting, .set(\.ratePerSecond, 0)) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("react to me")
            let message = try await alice.nextMessage()
            try await alice.send(.react(id: message.id, emoji: "e\u{301}\u{323}"))
            let (_, first) = try await alice.nextUpdate()
            #expect(first.reactions?.map { Array($0.emoji.unicodeScalars) } == [["\u{1EB9}", "\u{301}"]])
            for spelling in ["e\u{323}\u{301}", "\u{1EB9}\u{301}"] { try await alice.send(.react(id: message.id, emoji: spelling)) }
            try await alice.send(.react(id: message.id, emoji: "👍"))
            let (_, state) = try await alice.nextUpdate()
            #expect(state.reactions?.count == 2 && state.reactions?.first?.nicks == ["alice"])
        }
    }

    /// Edits, deletions and reactions take rate-limit tokens like messages.
    @Test(arguments: TestStorage.available) func changesCountAgainstTheRateLimit(storage: TestStorage) async throws {
        let room = storage.room("rate")
        try await withServer(storage.setting, .set(\.rateBurst, 3), .set(\.ratePerSecond, 0.01)) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("one")
            let message = try await alice.nextMessage()
            try await alice.send(.react(id: message.id, emoji: "👍"))
            _ = try await alice.nextUpdate()
            try await alice.send(.edit(id: message.id, text: "two"))
            _ = try await alice.nextUpdate()
            try await alice.send(.delete(id: message.id))
            #expect(try await alice.nextError() == .rateLimited)
        }
    }

    /// A reaction shows the nick its member had when reacting, and a rename does not rewrite it.
    @Test(arguments: TestStorage.available) func reactionsKeepTheNickOfTheirTime(storage: TestStorage) async throws {
        let room = storage.room("nicks")
        try await withServer(storage.setting) { server in
            let (alice, _) = try await server.join("room=\(room)&nick=alice")
            try await alice.send("hello")
            let message = try await alice.nextMessage()
            try await alice.send(.react(id: message.id, emoji: "👋"))
            _ = try await alice.nextUpdate()
            try await alice.send(.nick("alicia"))
            _ = try await alice.next { event -> Bool? in
                if case .nick = event { return true }
                return nil
            }
            try await alice.send(.react(id: message.id, emoji: "🎉"))
            let (_, state) = try await alice.nextUpdate()
            #expect(state.reactions == [Reaction(emoji: "👋", nicks: ["alice"]), Reaction(emoji: "🎉", nicks: ["alicia"])])
        }
    }

    /// A room that uses none of §11 sends exactly the version 1 message shape, live, in history and over HTTP.
    @Test(arguments: TestStorage.available) func plainRoomsKeepTheVersionOneShape(storage: TestStorage) async throws {
        let room = storage.room("plain")
        try await withServer(storage.setting) { server in
            let alice = try await server.connect("room=\(room)&nick=alice")
            _ = try await alice.welcome()
            try await alice.send(.message(text: "plain", clientID: "p1"))
            try await alice.send("plainer")
            for expected in [["type", "id", "nick", "text", "ts", "client_id"], ["type", "id", "nick", "text", "ts"]] {
                let frame = try await alice.nextFrame()
                let object = try #require(try JSONSerialization.jsonObject(with: Data(frame.payload)) as? [String: Any])
                #expect(Set(object.keys) == Set(expected))
                #expect(String(decoding: frame.payload, as: UTF8.self).hasPrefix(#"{"type":"message","id":"#))
            }
            let page = try await server.http("GET", "/api/rooms/\(room)/messages")
            for message in try #require(page.json["messages"] as? [[String: Any]]) {
                #expect(Set(message.keys).isSubset(of: ["id", "nick", "text", "ts", "client_id"]))
            }
            let (_, welcome) = try await server.join("room=\(room)&nick=bob")
            #expect(welcome.history.allSatisfy(\.isPlain) && welcome.rev == 0 && welcome.updates == nil)
        }
    }
}

extension RawSocket {
    /// The next `update` event.
    func nextUpdate() async throws -> (Int64, ChatMessage) {
        try await next { event in
            if case .update(let rev, let message) = event { return (rev, message) }
            return nil
        }
    }

    /// The next `update` event with a revision above `rev`.
    func nextUpdate(after rev: Int64) async throws -> (Int64, ChatMessage) {
        while true {
            let update = try await nextUpdate()
            if update.0 > rev { return update }
        }
    }
}
