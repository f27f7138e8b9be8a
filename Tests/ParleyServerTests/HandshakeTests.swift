import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Upgrades over real sockets, through ``WebSocketHandshake`` and through NIO's HTTP pipeline it hands over to.
@Suite struct HandshakeTests {
    private func upgrade(port: Int, room: String, nick: String, extra: [String] = []) -> [UInt8] {
        let lines =
            [
                "GET /ws?room=\(room)&nick=\(nick) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
            ] + extra
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
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
            var head = upgrade(port: server.port, room: "handed", nick: "bo", extra: ["X-Note: caf"])
            head.insert(contentsOf: [0xC3, 0xA9], at: head.count - 4)
            let bo = try await RawSocket.open(port: server.port, writes: [head])
            #expect(try await bo.welcome().nick == "bo")
            bo.close()
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
}
