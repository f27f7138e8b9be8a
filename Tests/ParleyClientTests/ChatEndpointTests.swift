import Testing

@testable import ParleyClient

@Suite struct ChatEndpointTests {
    @Test func webSocketURL() throws {
        let endpoint = try ChatEndpoint(parsing: "ws://127.0.0.1:8080")
        #expect(endpoint.room == nil)
        #expect(endpoint.httpBase == "http://127.0.0.1:8080")
        #expect(endpoint.webSocketURL(query: [("room", "lobby"), ("nick", "a b&c")]) == "ws://127.0.0.1:8080/ws?room=lobby&nick=a%20b%26c")
    }

    @Test func inviteURLNamesTheRoom() throws {
        let endpoint = try ChatEndpoint(parsing: "https://chat.example:8443/r/abc-123")
        #expect(endpoint.room == "abc-123")
        #expect(endpoint.webSocketBase == "wss://chat.example:8443")
    }

    @Test(arguments: ["127.0.0.1:8080", "ftp://host", "ws://", "ws://host/elsewhere", "ws://host:99999"])
    func malformedURLsAreUsageErrors(url: String) {
        #expect(throws: ChatClientError.self) { try ChatEndpoint(parsing: url) }
        do {
            _ = try ChatEndpoint(parsing: url)
        } catch {
            #expect(error.kind == .usage)
        }
    }

    @Test func pacerAllowsABurstThenSpacesSends() {
        let start = ContinuousClock.now
        var pacer = SendPacer(burst: 2, perSecond: 4, now: start)
        #expect(pacer.take(now: start) == nil)
        #expect(pacer.take(now: start) == nil)
        #expect(pacer.take(now: start) == .milliseconds(250))
    }
}
