import ParleyServer
import ParleyTestSupport
import Testing

/// Which pages may frame the web UI (`--embed-origin`): none by default, the named origins when given.
@Suite struct WebUIEmbeddingTests {
    @Test(.timeLimit(.minutes(1))) func noPageMayFrameTheUIByDefault() async throws {
        try await withServer { server in
            let page = try await server.raw("GET", "/r/team")
            #expect(page.status == 200)
            #expect(page.headers["content-security-policy"]?.contains("frame-ancestors 'none';") == true)
        }
    }

    @Test(.timeLimit(.minutes(1))) func namedOriginsMayFrameIt() async throws {
        let origins = ["https://app.example", "http://127.0.0.1:8000"]
        try await withServer(.set(\.embedOrigins, origins)) { server in
            let page = try await server.raw("GET", "/")
            #expect(page.headers["content-security-policy"]?.contains("frame-ancestors https://app.example http://127.0.0.1:8000;") == true)
        }
    }

    @Test(arguments: [
        ("https://App.Example", "https://app.example"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://[::1]:9000", "https://[::1]:9000"),
    ])
    func originsAreNormalised(given: String, source: String) {
        #expect(ServerConfiguration.embedOrigin(given) == source)
    }

    @Test(arguments: ["app.example", "ftp://app.example", "https://app.example/chat", "https://app.example?x=1", "https://a b", "'self'", "*"])
    func anythingButAnOriginIsRefused(value: String) {
        #expect(ServerConfiguration.embedOrigin(value) == nil)
    }
}
