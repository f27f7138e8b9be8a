import ParleyBench
import Testing

@Suite struct BenchEndpointTests {
    @Test(arguments: [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080"),
        ("ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080"),
        ("https://example.org/", "wss://example.org"),
        ("ws://[::1]:9000", "ws://[::1]:9000"),
    ])
    func mapsToAWebSocketBase(url: String, base: String) throws {
        #expect(try BenchEndpoint(parsing: url).webSocketBase == base)
    }

    @Test func buildsTheContractURL() throws {
        let endpoint = try BenchEndpoint(parsing: "http://127.0.0.1:8080")
        #expect(endpoint.webSocketURL(room: "pb1-0", nick: "m3") == "ws://127.0.0.1:8080/ws?room=pb1-0&nick=m3")
    }

    @Test(arguments: ["ftp://host", "127.0.0.1:8080", "http://host/r/abc"])
    func refusesOtherURLs(url: String) {
        #expect(throws: BenchError.self) { try BenchEndpoint(parsing: url) }
    }

    @Test func roomCodesAreFreshPerPlan() throws {
        let endpoint = try BenchEndpoint(parsing: "ws://127.0.0.1:1")
        let first = BenchPlan(endpoint: endpoint, rooms: 1, membersPerRoom: 1)
        let second = BenchPlan(endpoint: endpoint, rooms: 1, membersPerRoom: 1)
        #expect(first.roomCode(0) != second.roomCode(0))
        #expect(first.roomCode(3).hasPrefix(first.roomPrefix) && first.roomCode(3).hasSuffix("-3"))
    }
}
