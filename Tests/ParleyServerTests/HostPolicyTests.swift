import Testing

@testable import ParleyServer

/// `Host` and `Origin` rules (contract §2, §6, §16) and `--public-url`.
@Suite struct HostPolicyTests {
    private func policy(host: String = "127.0.0.1", publicURL: String? = nil, origins: [String] = []) -> HostPolicy {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.publicURL = publicURL.flatMap(PublicURL.init)
        configuration.allowedOrigins = origins
        return HostPolicy(configuration: configuration)
    }

    @Test func aLoopbackServerAcceptsOnlyLoopbackNamesAndThePublicHost() {
        for listen in ["127.0.0.1", "localhost", "::1", "127.0.0.2"] {
            #expect(policy(host: listen).checksHost, "\(listen)")
        }
        #expect(!policy(host: "0.0.0.0").checksHost && !policy(host: "192.0.2.1").checksHost && !policy(host: "::").checksHost)
        let local = policy(publicURL: "https://Chat.Example:8443/chat")
        for host in [
            "localhost", "localhost:8080", "LocalHost.", "127.0.0.1", "127.255.0.1:1", "[::1]", "[::1]:8080", "chat.example", "CHAT.example:443",
        ] {
            #expect(local.allows(host: host), "\(host)")
        }
        for host in ["attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "[::2]", "::1", "1.2.3.4", "", "a:b:c", "[::1"] {
            #expect(!local.allows(host: host), "\(host)")
        }
        #expect(local.allows(host: nil))
        #expect(policy(host: "0.0.0.0").allows(host: "attacker.example"))
    }

    @Test func originsSameAsHostListedOrPublic() {
        let rules = policy(publicURL: "https://chat.example", origins: ["https://friend.example"])
        #expect(rules.allows(origin: nil, host: "x"))
        #expect(rules.allows(origin: "ws://anything", host: "x"))
        #expect(rules.allows(origin: "http://127.0.0.1:8080", host: "127.0.0.1:8080"))
        #expect(rules.allows(origin: "https://friend.example", host: "127.0.0.1:8080"))
        #expect(rules.allows(origin: "https://chat.example", host: "127.0.0.1:8080"))
        #expect(!rules.allows(origin: "http://chat.example", host: "127.0.0.1:8080"))
        #expect(!rules.allows(origin: "https://evil.example", host: "127.0.0.1:8080"))
        #expect(!rules.allows(origin: "null", host: "127.0.0.1:8080"))
        #expect(policy(origins: ["*"]).allows(origin: "https://evil.example", host: "x"))
    }

    @Test func publicURLs() throws {
        let plain = try #require(PublicURL("https://Chat.Example/"))
        #expect(plain.base == "https://chat.example" && plain.webSocketBase == "wss://chat.example")
        #expect(plain.origin == "https://chat.example" && plain.host == "chat.example")
        let prefixed = try #require(PublicURL("http://example.com:8080/chat//"))
        #expect(prefixed.base == "http://example.com:8080/chat" && prefixed.webSocketBase == "ws://example.com:8080/chat")
        #expect(prefixed.origin == "http://example.com:8080" && prefixed.host == "example.com")
        #expect(PublicURL("https://chat.example:443")?.origin == "https://chat.example")
        #expect(PublicURL("http://[::1]:8080")?.host == "[::1]")
        for bad in [
            "chat.example", "ftp://chat.example", "https://", "https://:80", "https://a:b", "https://a:99999", "https://u@a", "https://a/?q",
            "https://a/#f",
        ] {
            #expect(PublicURL(bad) == nil, "\(bad)")
        }
    }
}
