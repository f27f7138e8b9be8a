import Foundation
import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Order, resume and exactly-once: the guarantees of contract §4 and §8.
@Suite struct DeliveryTests {
    @Test func concurrentSendersGiveEveryReceiverOneContiguousOrder() async throws {
        let senders = 5
        let perSender = 40
        let total = senders * perSender
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            var receivers: [RawSocket] = []
            for i in 0..<5 { receivers.append(try await server.join("room=order&nick=r\(i)").0) }
            var writers: [RawSocket] = []
            for i in 0..<senders { writers.append(try await server.join("room=order&nick=s\(i)").0) }

            let orders = try await withThrowingTaskGroup(of: [ChatMessage].self) { group in
                for (index, writer) in writers.enumerated() {
                    group.addTask {
                        for n in 0..<perSender { try await writer.send("s\(index)-\(n)") }
                        return []
                    }
                }
                for receiver in receivers {
                    group.addTask {
                        var seen: [ChatMessage] = []
                        while seen.count < total { seen.append(try await receiver.nextMessage()) }
                        return seen
                    }
                }
                var orders: [[ChatMessage]] = []
                for try await order in group where !order.isEmpty { orders.append(order) }
                return orders
            }
            #expect(orders.count == 5)
            for order in orders {
                #expect(order.map(\.id) == (1...Int64(total)).map { $0 })
                #expect(order == orders[0])
            }
            // Each sender's messages are stored in the order it sent them.
            for index in 0..<senders {
                let mine = orders[0].filter { $0.nick == "s\(index)" }.map(\.text)
                #expect(mine == (0..<perSender).map { "s\(index)-\($0)" })
            }
        }
    }

    @Test func resumeWithSinceAcrossRepeatedDropsMissesNothingAndDoublesNothing() async throws {
        let total = 150
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (writer, _) = try await server.join("room=resume&nick=writer")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for n in 1...total {
                        try await writer.send("n\(n)")
                        if n % 10 == 0 { _ = try await writer.nextMessage() }  // keep the sender paced by echoes
                    }
                }
                var received: [Int64] = []
                var since: Int64 = 0
                for round in 0..<6 {
                    let (reader, welcome) = try await server.join("room=resume&nick=reader&since=\(since)")
                    received += welcome.history.map(\.id)
                    since = received.last ?? since
                    // Read a few live messages, then drop without a close frame.
                    for _ in 0..<(round == 5 ? Int.max : 7) {
                        if since >= Int64(total) { break }
                        let message = try await reader.nextMessage()
                        received.append(message.id)
                        since = message.id
                    }
                    reader.close()
                    if since >= Int64(total) { break }
                }
                try await group.waitForAll()
                #expect(received == (1...Int64(total)).map { $0 })
            }
        }
    }

    @Test func clientIDResendIsStoredOnceAndAnsweredToTheSenderAlone() async throws {
        try await withServer { server in
            let (sender, _) = try await server.join("room=dedup&nick=sender")
            let (other, _) = try await server.join("room=dedup&nick=other")
            try await sender.send(.message(text: "once", clientID: "c-1"))
            let original = try await sender.nextMessage()
            #expect(original.clientID == "c-1" && original.id == 1)
            #expect(try await other.nextMessage() == original)

            try await sender.send(.message(text: "once", clientID: "c-1"))
            #expect(try await sender.nextMessage() == original)
            try await sender.send("after")
            #expect(try await other.nextMessage().text == "after")  // the resend was not broadcast

            // Over HTTP too, whoever sends it.
            let repeatReply = try await server.http("POST", "/api/rooms/dedup/messages", body: #"{"nick":"web","text":"once","client_id":"c-1"}"#)
            #expect(repeatReply.status == 200 && repeatReply.json["id"] as? Int == 1)
            let fresh = try await server.http("POST", "/api/rooms/dedup/messages", body: #"{"nick":"web","text":"via http","client_id":"c-2"}"#)
            #expect(fresh.status == 201 && fresh.json["id"] as? Int == 3)
            let relayed = try await other.nextMessage()
            #expect(relayed.text == "via http" && relayed.nick == "web" && relayed.clientID == "c-2")
            try await sender.send(.message(text: "via http", clientID: "c-2"))
            #expect(
                try await sender.next { event -> ChatMessage? in
                    if case .message(let message) = event, message.id == 3 { return message }
                    return nil
                }.clientID == "c-2"
            )
            let page = try await server.http("GET", "/api/rooms/dedup/messages")
            #expect((page.json["messages"] as? [Any])?.count == 3)
        }
    }

    /// Commands read together are stored in one commit, whose messages reach the room as one run; a resend in the
    /// middle ends the run, so the sender's answers come in the order it sent the commands.
    @Test func aResendInTheMiddleOfABurstIsAnsweredInItsPlace() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let (sender, _) = try await server.join("room=burst&nick=sender")
            let (other, _) = try await server.join("room=burst&nick=other")
            _ = try await sender.next()  // other's join
            let commands: [ClientCommand] = [
                .message(text: "a", clientID: "c-a"), .message(text: "b", clientID: "c-b"), .message(text: "a", clientID: "c-a"),
                .message(text: "c", clientID: "c-c"),
            ]
            // One write, so that one read takes all four and one commit stores them.
            let bytes = commands.flatMap { RawSocket.frame(opcode: 0x1, Array($0.json.utf8)) }
            try await sender.channel.writeAndFlush(ByteBuffer(bytes: bytes))
            var answers: [String] = []
            for _ in 0..<4 {
                let message = try await sender.nextMessage()
                answers.append("\(message.text)\(message.id)")
            }
            #expect(answers == ["a1", "b2", "a1", "c3"])
            var seen: [String] = []
            for _ in 0..<3 {
                let message = try await other.nextMessage()
                seen.append("\(message.text)\(message.id)")
            }
            #expect(seen == ["a1", "b2", "c3"])
        }
    }

    @Test func sessionReclaimReplacesTheOldConnectionWithoutLeaveOrJoin() async throws {
        try await withServer { server in
            let (first, welcome) = try await server.join("room=s&nick=alice")
            let (watcher, _) = try await server.join("room=s&nick=watcher")
            _ = try await first.next()  // join watcher

            let (second, reclaimed) = try await server.join("room=s&nick=other&session=\(welcome.session)")
            #expect(reclaimed.nick == "alice" && reclaimed.session == welcome.session)
            #expect(reclaimed.members.sorted() == ["alice", "watcher"])
            #expect(try await first.closeCode() == 4001)

            try await watcher.send(.ping)
            #expect(try await watcher.next() == .pong)  // no leave/join pair arrived first

            // The session follows nick changes; after the holder leaves, the nick can be reclaimed.
            try await second.send(.nick("alicia"))
            _ = try await second.next()
            second.close()
            _ = try await watcher.next()  // leave alicia
            let (_, back) = try await server.join("room=s&session=\(welcome.session)")
            #expect(back.nick == "alicia")
            // A secret from another room is ignored.
            let (_, foreign) = try await server.join("room=elsewhere&nick=zed&session=\(welcome.session)")
            #expect(foreign.nick == "zed" && foreign.session != welcome.session)
            // So is one not in the form the server hands out (40 lowercase hex digits), even if it differs only
            // in case: the member joins as new, with a new secret.
            let (_, malformed) = try await server.join("room=s&nick=yan&session=\(welcome.session.uppercased())")
            #expect(malformed.nick == "yan" && malformed.session != welcome.session)
            #expect(malformed.session.count == 40)
        }
    }
}
