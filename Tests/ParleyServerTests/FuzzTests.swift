import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Hostile input for a bounded time: the server stays up, other rooms are untouched, and history holds
/// only valid messages.
@Suite struct FuzzTests {
    /// SplitMix64: small, seeded, so a failing run can be replayed from the printed seed.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let fragments = [
        "{", "}", "\"type\"", ":", "\"message\"", "\"text\"", "\"nick\"", "\"history\"", "\"before\"", "-1", "1e400", "null", "[", "]",
        ",", "\"client_id\"", "\"Content\"", "\"\\u0000\"", "\"\\ud800\"", "true", "\"typing\"", "\"ping\"", "99999999999999999999", "é", "🙂",
        " ", "\n", "\"limit\"", "0", "201",
    ]

    @Test func serverSurvivesHostileInput() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("fuzz seed \(seed)")
        try await withServer(timeout: .seconds(90), .set(\.maxFrameBytes, 16 * 1024), .set(\.rateBurst, 1000)) { server in
            let (calm, _) = try await server.join("room=calm&nick=calm")
            try await calm.send("the only message here")
            _ = try await calm.nextMessage()
            var random = SeededGenerator(state: seed)
            let deadline = ContinuousClock.now + .seconds(15)
            var rounds = 0
            while ContinuousClock.now < deadline {
                rounds += 1
                try await Self.round(server: server, random: &random)
            }
            // Still up and answering.
            #expect(try await server.http("GET", "/healthz").status == 200)
            try await calm.send(.ping)
            #expect(try await calm.next { $0 == .pong ? true : nil })
            let calmPage = try await server.http("GET", "/api/rooms/calm/messages")
            #expect((calmPage.json["messages"] as? [Any])?.count == 1)
            // Only valid messages were stored, under contiguous ids.
            for room in ["fuzz0", "fuzz1", "fuzz2"] {
                var after = 0
                while true {
                    let page = try await server.http("GET", "/api/rooms/\(room)/messages?after=\(after)&limit=200")
                    if page.status == 404 { break }
                    for message in page.json["messages"] as? [[String: Any]] ?? [] {
                        let id = message["id"] as? Int ?? -1
                        let text = message["text"] as? String ?? ""
                        #expect(id == after + 1)
                        #expect(!text.isEmpty && text.utf8.count <= 4096)
                        #expect(!text.unicodeScalars.allSatisfy { $0.properties.isWhitespace })
                        after = id
                    }
                    if page.json["has_more"] as? Bool != true { break }
                }
            }
            print("fuzz rounds \(rounds)")
        }
    }

    static func round(server: TestServer, random: inout SeededGenerator) async throws {
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            // A bad or odd handshake.
            let queries = ["room=", "room=%ZZ", "room=\(String(repeating: "x", count: 70))", "nick=only", "room=a&since=x", "room=ok&nick=%00"]
            _ = try? await server.connect(queries.randomElement(using: &random)!)
        case 1:
            // Random HTTP.
            let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
            let paths = ["/api/rooms", "/api/rooms/fuzz0", "/api/rooms/fuzz0/messages", "/api/rooms/%2e%2e", "/nope", "/ws", "/r/", "/healthz"]
            let body = Bool.random(using: &random) ? randomJSON(&random) : nil
            let reply = try await server.http(methods.randomElement(using: &random)!, paths.randomElement(using: &random)!, body: body)
            #expect(reply.status < 500)
        default:
            let room = "fuzz\(Int.random(in: 0..<3, using: &random))"
            guard let socket = try? await server.connect("room=\(room)&nick=f\(Int.random(in: 0..<5, using: &random))") else { return }
            defer { socket.close() }
            for _ in 0..<Int.random(in: 1..<20, using: &random) {
                switch Int.random(in: 0..<8, using: &random) {
                case 0: try? await socket.send(opcode: 0x2, randomBytes(&random))
                case 1: try? await socket.send(opcode: 0x1, randomBytes(&random))
                case 2:
                    try? await socket.send(opcode: 0x1, Array(randomJSON(&random).utf8), fin: false)
                    try? await socket.send(opcode: 0x0, randomBytes(&random), fin: Bool.random(using: &random))
                case 3: try? await socket.send(opcode: 0x1, Array(repeating: 0x61, count: Int.random(in: 4000..<20000, using: &random)))
                case 4: try? await socket.send(opcode: UInt8.random(in: 3...15, using: &random), randomBytes(&random))
                default: try? await socket.send(randomJSON(&random))
                }
            }
        }
    }

    static func randomBytes(_ random: inout SeededGenerator) -> [UInt8] {
        (0..<Int.random(in: 0..<64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    static func randomJSON(_ random: inout SeededGenerator) -> String {
        if Int.random(in: 0..<4, using: &random) == 0 {
            let type = ["message", "typing", "nick", "history", "ping", "zap", "7"].randomElement(using: &random)!
            return #"{"type":"\#(type)","text":"t\#(Int.random(in: 0..<1000, using: &random))","nick":"n","before":3,"limit":2}"#
        }
        return (0..<Int.random(in: 1..<12, using: &random)).map { _ in fragments.randomElement(using: &random)! }.joined()
    }
}
