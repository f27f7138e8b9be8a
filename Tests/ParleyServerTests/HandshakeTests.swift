import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Upgrades over real sockets, through ``WebSocketHandshake`` and through NIO's HTTP pipeline it hands over to.
@Suite struct HandshakeTests {
    private func upgrade(port: Int, room: String, nick: String, extra: [(String, String)] = []) -> [UInt8] {
        RawSocket.upgradeRequest(port: port, path: "/ws?room=\(room)&nick=\(nick)", headers: extra)
    }

    /// A head that arrives in pieces is upgraded once it is whole, and a command written behind it, in the same
    /// packet as its end, is run once the member has joined.
    @Test func aHeadInPiecesWithACommandBehindItIsServed() async throws {
        try await withServer(timeout: .seconds(20)) { server in
            let head = upgrade(port: server.port, room: "pieces", nick: "ann")
            let command = RawSocket.frame(opcode: 0x1, Array(ClientCommand.message(text: "right behind", clientID: nil).json.utf8))
            let writes = [Array(head[..<3]), Array(head[3..<40]), Array(head[40..<(head.count - 1)]), [head[head.count - 1]] + command]
            let ann = try await RawSocket.open(port: server.port, writes: writes)
            let welcome = try await ann.welcome()
            #expect(welcome.nick == "ann")
            let message = try await ann.nextMessage()
            #expect(message.text == "right behind" && message.nick == "ann")
            ann.close()
        }
    }

    /// A head the handshake does not read itself (here a field with a byte above 127) is still upgraded, by NIO.
    @Test func aHeadHandedToNIOIsStillUpgraded() async throws {
        try await withServer(timeout: .seconds(20)) { server in
            var head = upgrade(port: server.port, room: "handed", nick: "bo", extra: [("X-Note", "caf")])
            head.insert(contentsOf: [0xC3, 0xA9], at: head.count - 4)
            let bo = try await RawSocket.open(port: server.port, writes: [head])
            #expect(try await bo.welcome().nick == "bo")
            // NIO's upgrader put its frame encoder in the pipeline; what the server writes goes past it, framed:
            // a pong, a message, and a close.
            try await bo.send(opcode: 0x9, Array("are you there".utf8))
            let pong = try await bo.nextFrame()
            #expect(pong.opcode == 0xA && pong.payload == Array("are you there".utf8))
            try await bo.send(.message(text: "through NIO", clientID: nil))
            #expect(try await bo.nextMessage().text == "through NIO")
            try await bo.sendClose(code: 4321)
            #expect(try await bo.closeCode() == 4321)
        }
    }

    /// A refusal decided by the handshake is answered by the HTTP side without a second admission: the refusal
    /// is counted once.
    @Test func aRefusedUpgradeIsAnsweredAndCountedOnce() async throws {
        try await withServer(timeout: .seconds(20)) { server in
            var head = upgrade(port: server.port, room: "refused", nick: "eve")
            head = Array(String(decoding: head, as: UTF8.self).replacingOccurrences(of: "Host: 127.0.0.1", with: "Host: attacker.example").utf8)
            do {
                _ = try await RawSocket.open(port: server.port, writes: [head])
                Issue.record("a foreign host was upgraded")
            } catch let refused as RawSocket.Refused {
                #expect(refused.status == 403 && refused.body.contains("\"forbidden\""))
            }
            let metrics = try await server.http("GET", "/metrics").body
            #expect(
                metrics.contains("parley_http_refused_total{reason=\"host\"} 1"),
                "\(metrics.split(separator: "\n").filter { $0.contains("refused") })"
            )
        }
    }

    /// A client that half-closes before its head is complete is closed at once, as NIO's HTTP side does, not
    /// when the handshake's deadline runs out.
    @Test func aHalfCloseBeforeTheHeadIsCompleteClosesTheSocket() async throws {
        try await withServer(timeout: .seconds(30), .set(\.handshakeTimeout, .seconds(60))) { server in
            let probe = try await TCPProbe.connect(port: server.port)
            try await probe.send("GET /ws?room=half&nick=ann HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try await probe.channel.close(mode: .output)
            #expect(await probe.closes(within: .seconds(10)))
        }
    }

    /// In api mode the admission reads the room off the event loop. A command sent behind the head meanwhile is
    /// served once the member has joined, and a client that half-closes right after its head gets its `welcome`
    /// and then its socket closed.
    @Test func anUpgradeDecidedOffTheLoopKeepsWhatCameBehindTheHead() async throws {
        try await withServer(timeout: .seconds(30), .set(\.roomCreation, .api), .set(\.idleTimeout, .seconds(60))) { server in
            let created = try await server.http("POST", "/api/rooms")
            let code = try #require(created.json["code"] as? String)
            let command = RawSocket.frame(opcode: 0x1, Array(ClientCommand.message(text: "while deciding", clientID: nil).json.utf8))
            let ann = try await RawSocket.open(port: server.port, writes: [upgrade(port: server.port, room: code, nick: "ann") + command])
            #expect(try await ann.welcome().nick == "ann")
            #expect(try await ann.nextMessage().text == "while deciding")
            ann.close()

            let probe = try await TCPProbe.connect(port: server.port)
            try await probe.send(String(decoding: upgrade(port: server.port, room: code, nick: "bo"), as: UTF8.self))
            try await probe.channel.close(mode: .output)
            #expect(try await probe.response().status == 101)
            #expect(await probe.closes(within: .seconds(10)))
        }
    }
}
