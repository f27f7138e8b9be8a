import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Joining, messaging, presence, nicks and typing over real sockets.
@Suite struct ChatFlowTests {
    @Test func welcomeThenJoinMessageAndLeave() async throws {
        try await withServer { server in
            let (alice, aliceWelcome) = try await server.join("room=lobby&nick=alice")
            #expect(aliceWelcome.nick == "alice")
            #expect(aliceWelcome.members == ["alice"])
            #expect(aliceWelcome.room.code == "lobby")
            #expect(aliceWelcome.room.name == nil)
            #expect(aliceWelcome.lastID == 0 && aliceWelcome.history.isEmpty && !aliceWelcome.truncated)

            let (bob, bobWelcome) = try await server.join("room=lobby&nick=bob")
            #expect(bobWelcome.members == ["alice", "bob"])
            guard case .join(let joined, _) = try await alice.next() else { throw RawSocket.Failure.unexpected("join") }
            #expect(joined == "bob")

            try await bob.send("hello alice\n")
            let seenByAlice = try await alice.nextMessage()
            let seenByBob = try await bob.nextMessage()
            #expect(seenByAlice == seenByBob)
            #expect(seenByAlice.id == 1 && seenByAlice.nick == "bob" && seenByAlice.text == "hello alice")

            bob.close()
            guard case .leave(let left, _) = try await alice.next() else { throw RawSocket.Failure.unexpected("leave") }
            #expect(left == "bob")
        }
    }

    /// A command that waits for storage (here `history`) holds back the ones sent after it, so answers come in
    /// the order the commands were sent.
    @Test func commandsAreAnsweredInTheOrderTheyWereSent() async throws {
        try await withServer { server in
            let (alice, _) = try await server.join("room=order&nick=alice")
            try await alice.sendConfirmed(3)
            for round in 0..<10 {
                try await alice.send(.history(before: nil, limit: 2))
                try await alice.send(.ping)
                try await alice.send(.message(text: "after \(round)", clientID: "r\(round)"))
                var order: [String] = []
                while order.count < 3 {
                    switch try await alice.next() {
                    case .history: order.append("history")
                    case .pong: order.append("pong")
                    case .message(let message) where message.clientID == "r\(round)": order.append("message")
                    default: break
                    }
                }
                #expect(order == ["history", "pong", "message"])
            }
        }
    }

    /// Commands sent just before a close frame still run before the answer, even behind one that waits
    /// for storage.
    @Test func commandsSentBeforeACloseStillRun() async throws {
        try await withServer { server in
            let (watcher, _) = try await server.join("room=last&nick=watcher")
            let (leaver, _) = try await server.join("room=last&nick=leaver")
            try await leaver.send(.history(before: nil, limit: 10))
            try await leaver.send(.message(text: "last words", clientID: "last"))
            try await leaver.sendClose(code: 1000)
            #expect(try await leaver.closeCode() == 1000)
            // The message may be committed after the leave went out: either order is fine.
            var seen: Set<String> = []
            while seen.count < 2 {
                switch try await watcher.next() {
                case .message(let message) where message.text == "last words": seen.insert("message")
                case .leave(let nick, _) where nick == "leaver": seen.insert("leave")
                default: break
                }
            }
        }
    }

    /// A client's close frame is answered with its own code, and the member leaves.
    @Test func aClientsCloseIsAnsweredAndTheMemberLeaves() async throws {
        try await withServer { server in
            let (alice, _) = try await server.join("room=bye&nick=alice")
            let (bob, _) = try await server.join("room=bye&nick=bob")
            try await bob.sendClose(code: 1000)
            #expect(try await bob.closeCode() == 1000)
            #expect(try await alice.next { if case .leave(let nick, _) = $0 { nick } else { nil } } == "bob")
        }
    }

    @Test func guestNickAndClashSuffix() async throws {
        try await withServer { server in
            let (_, guest) = try await server.join("room=r&nick=")
            #expect(guest.nick.hasPrefix("guest-") && guest.nick.count == 10)
            let (_, first) = try await server.join("room=r&nick=Sam")
            let (_, second) = try await server.join("roomCode=r&nick=sam")
            let (_, third) = try await server.join("token=r&nick=SAM")
            #expect(first.nick == "Sam" && second.nick == "sam-2" && third.nick == "SAM-3")
        }
    }

    @Test func nickChangesAndClash() async throws {
        try await withServer { server in
            let (alice, _) = try await server.join("room=n&nick=alice")
            let (bob, _) = try await server.join("room=n&nick=bob")
            _ = try await alice.next()  // join bob
            try await bob.send(.nick("ALICE"))
            #expect(try await bob.nextError() == .nickTaken)
            try await bob.send(.nick("  robert "))
            for socket in [alice, bob] {
                guard case .nick(let from, let to, _) = try await socket.next() else { throw RawSocket.Failure.unexpected("nick") }
                #expect(from == "bob" && to == "robert")
            }
            try await bob.send(.nick(""))
            #expect(try await bob.nextError() == .invalidNick)
            try await bob.send("as robert")
            #expect(try await alice.nextMessage().nick == "robert")
        }
    }

    @Test func typingIsRelayedToOthersAndThrottled() async throws {
        try await withServer { server in
            let (alice, _) = try await server.join("room=t&nick=alice")
            let (bob, _) = try await server.join("room=t&nick=bob")
            _ = try await alice.next()  // join bob
            try await bob.send(.typing)
            try await bob.send(.typing)
            try await bob.send(.ping)
            #expect(try await bob.next() == .pong)  // the typer hears nothing of its own typing
            #expect(try await alice.next() == .typing(nick: "bob"))
            try await bob.send("sync")
            #expect(try await alice.nextMessage().text == "sync")  // the second typing was dropped
        }
    }

    @Test func historyCommandAndWelcomeWindows() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (writer, _) = try await server.join("room=h&nick=w")
            try await writer.sendConfirmed(60)

            let (_, plain) = try await server.join("room=h&nick=a")
            #expect(plain.history.map(\.id) == Array(11...60))
            #expect(plain.truncated && plain.lastID == 60)

            let (_, resumed) = try await server.join("room=h&nick=b&since=55")
            #expect(resumed.history.map(\.id) == Array(56...60))
            #expect(!resumed.truncated)
            let (_, ahead) = try await server.join("room=h&nick=c&since=1000")
            #expect(ahead.history.isEmpty && ahead.lastID == 60)
            let (_, empty) = try await server.join("room=h&nick=d&since=")
            #expect(empty.history.count == 50)

            func history() async throws -> ([Int64], Bool) {
                try await writer.next { event in
                    if case .history(let page, let more) = event { return (page.map(\.id), more) }
                    return nil
                }
            }
            try await writer.send(.history(before: 11, limit: 5))
            #expect(try await history() == ([6, 7, 8, 9, 10], true))
            try await writer.send(.history(before: 3, limit: nil))
            #expect(try await history() == ([1, 2], false))
            try await writer.send(.history(before: 3, limit: 201))
            #expect(try await writer.nextError() == .badRequest)
        }
    }

    @Test func sinceWindowIsTheNewestThousand() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (writer, _) = try await server.join("room=big&nick=w")
            try await writer.sendConfirmed(1005)
            let (_, resumed) = try await server.join("room=big&nick=r&since=2")
            #expect(resumed.history.first?.id == 6 && resumed.history.last?.id == 1005)
            #expect(resumed.truncated)
        }
    }

    @Test func badCommandsAnswerErrorsAndKeepTheConnection() async throws {
        try await withServer { server in
            let (socket, _) = try await server.join("room=e&nick=x")
            try await socket.send("{oops")
            #expect(try await socket.nextError() == .badRequest)
            try await socket.send(#"{"type":7}"#)
            #expect(try await socket.nextError() == .badRequest)
            try await socket.send(#"{"type":"fly"}"#)
            #expect(try await socket.nextError() == .unknownType)
            try await socket.send("   \n")
            #expect(try await socket.nextError() == .badRequest)
            try await socket.send(#"{"Author":"client 1","Content":"content1"}"#)
            #expect(try await socket.nextMessage().text == "content1")
            try await socket.send(.ping)
            #expect(try await socket.next() == .pong)
        }
    }

    @Test func roomsAreIsolated() async throws {
        try await withServer { server in
            let (a, _) = try await server.join("room=one&nick=a")
            let (b, _) = try await server.join("room=two&nick=b")
            try await a.send("only in one")
            _ = try await a.nextMessage()
            try await b.send("only in two")
            let message = try await b.nextMessage()
            #expect(message.text == "only in two" && message.id == 1)
        }
    }
}
