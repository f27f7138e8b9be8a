import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Every limit of contract §6 and every refusal of §2, answered as the contract says.
@Suite struct LimitTests {
    @Test func textOverTheLimitIsTooLarge() async throws {
        try await withServer { server in
            let (socket, _) = try await server.join("room=l&nick=x")
            try await socket.send(String(repeating: "a", count: 4097))
            #expect(try await socket.nextError() == .tooLarge)
            // A refused message that carried a client_id is named in the error.
            try await socket.send(.message(text: String(repeating: "a", count: 4097), clientID: "big-1"))
            #expect(try await socket.next() == .error(code: .tooLarge, message: "text is 4097 bytes; the limit is 4096", clientID: "big-1"))
            try await socket.send(String(repeating: "é", count: 2048))
            #expect(try await socket.nextMessage().text.utf8.count == 4096)
        }
    }

    @Test func rateLimitRefusesThenClosesAtTheFiftiethRefusal() async throws {
        // A slow refill keeps the count exact however long sending takes on a busy machine.
        try await withServer(.set(\.ratePerSecond, 0.01)) { server in
            let (socket, _) = try await server.join("room=rate&nick=x")
            for n in 0..<25 { try await socket.send("m\(n)") }
            var stored = 0
            var refused = 0
            while stored + refused < 25 {
                switch try await socket.next() {
                case .message: stored += 1
                case .error(.rateLimited, _, _): refused += 1
                default: break
                }
            }
            #expect(stored == 20 && refused == 5)
            // Without tokens, a message whose client id was never stored is refused like any other.
            try await socket.send(.message(text: "again", clientID: "k"))
            #expect(try await socket.nextError() == .rateLimited)
            // The server may close before the last of these arrive.
            for n in 0..<60 { try? await socket.send("flood \(n)") }
            #expect(try await socket.closeCode() == 1008)
        }
    }

    /// Every member is sent each rename, so renames take the rate limit's tokens like messages: 25 in a burst of
    /// 20 reach the others 20 times, and the sender hears of the other 5.
    @Test func renamesCountAgainstTheRateLimit() async throws {
        try await withServer(.set(\.ratePerSecond, 0.01)) { server in
            let (renamer, _) = try await server.join("room=renames&nick=x")
            let (other, _) = try await server.join("room=renames&nick=watcher")
            for n in 0..<25 { try await renamer.send(.nick(n % 2 == 0 ? "a" : "b")) }
            var refused = 0
            while refused < 5 {
                if case .error(.rateLimited, _, _) = try await renamer.next() { refused += 1 }
            }
            try await renamer.send(.ping)
            _ = try await renamer.next { if case .pong = $0 { true } else { nil } }
            var renames = 0
            try await other.send(.ping)
            while true {
                let event = try await other.next()
                if case .pong = event { break }
                if case .nick = event { renames += 1 }
            }
            #expect(renames == 20)
        }
    }

    @Test func resendIsNotCountedByTheRateLimit() async throws {
        try await withServer(.set(\.rateBurst, 1)) { server in
            let (socket, _) = try await server.join("room=rr&nick=x")
            try await socket.send(.message(text: "one", clientID: "id-1"))
            let original = try await socket.nextMessage()
            try await socket.send(.message(text: "one", clientID: "id-1"))
            #expect(try await socket.nextMessage() == original)
        }
    }

    @Test func oversizeFramesClose1009() async throws {
        try await withServer(.set(\.maxFrameBytes, 1024), .set(\.maxMessageBytes, 512)) { server in
            let (single, _) = try await server.join("room=f&nick=a")
            try await single.send(String(repeating: "x", count: 2000))
            #expect(try await single.closeCode() == 1009)

            let (fragmented, _) = try await server.join("room=f&nick=b")
            let part = Array(repeating: UInt8(ascii: "y"), count: 600)
            try await fragmented.send(opcode: 0x1, part, fin: false)
            try await fragmented.send(opcode: 0x0, part, fin: true)
            #expect(try await fragmented.closeCode() == 1009)

            // Fragments within the limit are reassembled into one message.
            let (ok, _) = try await server.join("room=f&nick=c")
            try await ok.send(opcode: 0x1, Array("hel".utf8), fin: false)
            try await ok.send(opcode: 0x0, Array("lo".utf8), fin: true)
            #expect(try await ok.nextMessage().text == "hello")
        }
    }

    /// The aggregator joins fragments from the first one on: a ping between them is answered at once, and later
    /// fragmented messages are joined too. A continuation with no message begun closes 1002.
    @Test func fragmentsAreJoinedAroundPings() async throws {
        try await withServer { server in
            let (socket, _) = try await server.join("room=f&nick=a")
            try await socket.send(opcode: 0x1, Array(#"{"type":"message","#.utf8), fin: false)
            try await socket.send(opcode: 0x9, Array("p".utf8))
            let pong = try await socket.nextFrame()
            #expect(pong.opcode == 0xA && pong.payload == Array("p".utf8))
            try await socket.send(opcode: 0x0, Array(#""text":"one"}"#.utf8), fin: true)
            #expect(try await socket.nextMessage().text == "one")
            try await socket.send(opcode: 0x1, Array(#"{"type":"message","text""#.utf8), fin: false)
            try await socket.send(opcode: 0x0, Array(#":"two"}"#.utf8), fin: true)
            #expect(try await socket.nextMessage().text == "two")
            try await socket.send(.message(text: "three", clientID: nil))
            #expect(try await socket.nextMessage().text == "three")

            let (stray, _) = try await server.join("room=f&nick=b")
            try await stray.send(opcode: 0x0, Array("lost".utf8), fin: true)
            #expect(try await stray.closeCode() == 1002)
        }
    }

    /// Reserved opcodes and reserved bits close 1002 (no extension is negotiated); a pong is fine.
    @Test func reservedOpcodesAndBitsClose1002() async throws {
        try await withServer { server in
            let (pong, _) = try await server.join("room=r&nick=a")
            try await pong.send(opcode: 0xA, Array("unasked".utf8))
            try await pong.send(.message(text: "after a pong", clientID: nil))
            #expect(try await pong.nextMessage().text == "after a pong")

            for opcode: UInt8 in [0x3, 0xB] {
                let (reserved, _) = try await server.join("room=r&nick=op\(opcode)")
                try await reserved.send(opcode: opcode, Array("?".utf8))
                #expect(try await reserved.closeCode() == 1002)
            }
            let (bits, _) = try await server.join("room=r&nick=bits")
            // A text frame with RSV1 set, as a compressed frame would be.
            try await bits.send(opcode: 0x40 | 0x1, Array("hello".utf8))
            #expect(try await bits.closeCode() == 1002)
        }
    }

    @Test func tooManyFragmentsClose1002() async throws {
        try await withServer { server in
            let (socket, _) = try await server.join("room=f&nick=a")
            let text = String(repeating: "x", count: 2 * ChatSocketHandler.maxFragments)
            // In exactly as many fragments as allowed, the message is taken.
            try await socket.send(fragments: ChatSocketHandler.maxFragments, of: Array(#"{"type":"message","text":"\#(text)"}"#.utf8))
            #expect(try await socket.nextMessage().text == text)
            // In one more, the socket closes.
            try await socket.send(fragments: ChatSocketHandler.maxFragments + 1, of: Array(#"{"type":"message","text":"\#(text)"}"#.utf8))
            #expect(try await socket.closeCode() == 1002)
        }
    }

    @Test func aFragmentedControlFrameCloses1002() async throws {
        try await withServer { server in
            let (socket, _) = try await server.join("room=f&nick=a")
            try await socket.send(opcode: 0x9, [UInt8(ascii: "p")], fin: false)
            #expect(try await socket.closeCode() == 1002)
            // The others in the room are not disturbed.
            let (other, _) = try await server.join("room=f&nick=b")
            try await other.send(.message(text: "still here", clientID: nil))
            #expect(try await other.nextMessage().text == "still here")
        }
    }

    @Test func binaryFramesClose1003AndInvalidUTF8Closes1007() async throws {
        try await withServer { server in
            let (binary, _) = try await server.join("room=b&nick=a")
            try await binary.send(opcode: 0x2, [1, 2, 3])
            #expect(try await binary.closeCode() == 1003)
            let (invalid, _) = try await server.join("room=b&nick=b")
            try await invalid.send(opcode: 0x1, [0x68, 0xff, 0xfe])
            #expect(try await invalid.closeCode() == 1007)
        }
    }

    @Test func connectionsPerAddressAndInTotal() async throws {
        try await withServer(.set(\.maxConnectionsPerAddress, 2)) { server in
            let first = try await server.join("room=c&nick=a").0
            _ = try await server.join("room=c&nick=b")
            let refusal = try await refused { try await server.connect("room=c&nick=c") }
            #expect(refusal.status == 429 && refusal.body.contains("rate_limited"))
            first.close()
            // The slot comes back once the socket is gone.
            try await eventually { _ = try await server.join("room=c&nick=d") }
        }
        try await withServer(.set(\.maxConnections, 1)) { server in
            _ = try await server.join("room=c&nick=a")
            let refusal = try await refused { try await server.connect("room=c&nick=b") }
            #expect(refusal.status == 503 && refusal.body.contains("unavailable"))
        }
    }

    @Test func refusalsBeforeTheUpgrade() async throws {
        try await withServer(.set(\.roomCreation, .api)) { server in
            let cases: [(String, [(String, String)], Int, String)] = [
                ("nick=a", [], 400, "invalid_room"),
                ("room=bad%20code", [], 400, "invalid_room"),
                ("room=" + String(repeating: "a", count: 65), [], 400, "invalid_room"),
                ("room=x&nick=%20%20", [], 400, "invalid_nick"),
                ("room=x&nick=a%E2%80%8Bb", [], 400, "invalid_nick"),
                ("room=x&since=abc", [], 400, "bad_request"),
                ("room=x&since=-1", [], 400, "bad_request"),
                ("room=x", [("Origin", "http://evil.example")], 403, "forbidden"),
                ("room=unknown", [], 404, "not_found"),
            ]
            for (query, headers, status, code) in cases {
                let refusal = try await refused { try await server.connect(query, headers: headers) }
                #expect(refusal.status == status, "\(query)")
                #expect(HTTPReply(status: refusal.status, body: refusal.body).errorCode == code, "\(query)")
            }
            // Same origin and API-created rooms are fine.
            let created = try await server.http("POST", "/api/rooms")
            let code = try #require(created.json["code"] as? String)
            _ = try await server.connect("room=\(code)", headers: [("Origin", "http://127.0.0.1:\(server.port)")]).welcome()
        }
    }

    @Test func allowedOriginsAreConfigurable() async throws {
        try await withServer(.set(\.allowedOrigins, ["https://chat.example"])) { server in
            _ = try await server.connect("room=o", headers: [("Origin", "https://chat.example")]).welcome()
            _ = try await server.connect("room=o", headers: [("Origin", "ws://127.0.0.1")]).welcome()
            let refusal = try await refused { try await server.connect("room=o", headers: [("Origin", "https://other.example")]) }
            #expect(refusal.status == 403)
        }
    }

    @Test func requestBodiesOverTheLimitAre413() async throws {
        try await withServer(.set(\.maxBodyBytes, 200), .set(\.maxMessageBytes, 50)) { server in
            let big = try await server.http("POST", "/api/rooms", body: #"{"name":"\#(String(repeating: "n", count: 300))"}"#)
            #expect(big.status == 413 && big.errorCode == "too_large")
            _ = try await server.join("room=body")
            let long = try await server.http(
                "POST",
                "/api/rooms/body/messages",
                body: #"{"nick":"a","text":"\#(String(repeating: "t", count: 60))"}"#
            )
            #expect(long.status == 413 && long.errorCode == "too_large")
        }
    }

    @Test func silentClientsAreClosed1001() async throws {
        // The answering client pongs only when its task reads: with every suite running at once, that task has
        // waited over 2 s for a thread, and was closed as silent too. 5 s leaves it room.
        try await withServer(.set(\.heartbeatInterval, .seconds(1)), .set(\.idleTimeout, .seconds(5))) { server in
            let silent = try await server.connect("room=idle&nick=quiet", answerPings: false)
            _ = try await silent.welcome()
            let answering = try await server.connect("room=idle&nick=chatty")
            _ = try await answering.welcome()
            let started = ContinuousClock.now
            // Meanwhile the other client reads, which answers the server's pings.
            let code = try await withThrowingTaskGroup(of: UInt16?.self) { group in
                group.addTask {
                    while true { _ = try await answering.nextFrame() }
                }
                group.addTask { try await silent.closeCode() }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            #expect(code == 1001)
            // Only against a server that never closes it: ConnectionStateMachineTests times the close with a fake clock.
            #expect(ContinuousClock.now - started < .seconds(30))
            // A client that answers pings stays.
            try await answering.send(.ping)
            #expect(try await answering.next { $0 == .pong ? true : nil })
        }
    }

    /// One timer per event loop beats every socket on it: sockets that leave (first, middle, last) take
    /// only themselves off its list, and every silent one left is still closed.
    @Test func silentClientsAreClosedAfterOthersLeave() async throws {
        try await withServer(timeout: .seconds(20), .set(\.heartbeatInterval, .seconds(1)), .set(\.idleTimeout, .seconds(2))) { server in
            var sockets: [RawSocket] = []
            for index in 0..<8 {
                let socket = try await server.connect("room=idle&nick=s\(index)", answerPings: false)
                _ = try await socket.welcome()
                sockets.append(socket)
            }
            for index in [0, 3, 7] { sockets[index].close() }
            let staying = [1, 2, 4, 5, 6].map { sockets[$0] }
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: UInt16?.self) { group in
                for socket in staying {
                    group.addTask { try await socket.closeCode() }
                }
                for try await code in group {
                    #expect(code == 1001)
                }
            }
            #expect(ContinuousClock.now - started < .seconds(6))
        }
    }
}
