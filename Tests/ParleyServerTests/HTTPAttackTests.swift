import Foundation
import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// Attacks on what comes before a WebSocket upgrade and on the HTTP API's edge (contract §6, §16), over
/// real sockets.
@Suite struct HTTPAttackTests {
    // MARK: sockets that never finish

    @Test func halfHeadAndSilentSocketsAreClosedAtTheHandshakeTimeout() async throws {
        try await withServer(timeout: .seconds(20), .set(\.handshakeTimeout, .seconds(1))) { server in
            let silent = try await TCPProbe.connect(port: server.port)
            let slowloris = try await TCPProbe.connect(port: server.port)
            try await slowloris.send("GET /ws?room=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            // Not an upgrade: handed to NIO's HTTP side half-way through its head, the deadline going with it.
            let handed = try await TCPProbe.connect(port: server.port)
            try await handed.send("GET /api/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            let started = ContinuousClock.now
            #expect(await silent.closes(within: .seconds(5)))
            #expect(await slowloris.closes(within: .seconds(5)))
            #expect(await handed.closes(within: .seconds(5)))
            // (Left open, they would hold up the server's shutdown.)
            silent.close()
            slowloris.close()
            handed.close()
            #expect(ContinuousClock.now - started >= .milliseconds(800))
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        try await withServer(timeout: .seconds(20), .set(\.handshakeTimeout, .seconds(1))) { server in
            let probe = try await TCPProbe.connect(port: server.port)
            #expect(try await probe.request("GET", "/healthz").status == 200)
            // A second request on the same socket works; then silence ends it.
            #expect(try await probe.request("GET", "/healthz").status == 200)
            #expect(await probe.closes(within: .seconds(5)))
            probe.close()
        }
    }

    /// HTTP sockets kept alive after a request count against the peer's connection limit for as long as they
    /// stay open: one past it is answered 429 and closed, and a place comes back when one of them closes.
    @Test func keptAliveHTTPSocketsCountAgainstTheAddressLimit() async throws {
        try await withServer(.set(\.maxConnectionsPerAddress, 3)) { server in
            var probes: [TCPProbe] = []
            for _ in 0..<3 {
                let probe = try await TCPProbe.connect(port: server.port)
                #expect(try await probe.request("GET", "/healthz").status == 200)
                probes.append(probe)
            }
            let extra = try await TCPProbe.connect(port: server.port)
            let refused = try await extra.request("GET", "/healthz")
            #expect(refused.status == 429 && refused.errorCode == "rate_limited" && refused.headers["connection"] == "close")
            #expect(await extra.closes(within: .seconds(5)))
            // The kept ones still serve, and one closed makes room for another.
            #expect(try await probes[0].request("GET", "/healthz").status == 200)
            probes[1].close()
            #expect(await probes[1].closes(within: .seconds(5)))
            // The server sees the close a little after the client made it; until then a new socket is refused.
            var admitted = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !admitted, ContinuousClock.now < deadline {
                let next = try await TCPProbe.connect(port: server.port)
                admitted = try await next.request("GET", "/healthz").status == 200
                if admitted { probes.append(next) } else { next.close() }
            }
            #expect(admitted)
            for probe in probes { probe.close() }
            // The server may not have seen every close yet: until it has, a request is refused like the extra one.
            var metrics = ""
            while metrics.isEmpty, ContinuousClock.now < deadline + .seconds(10) {
                let reply = try await server.http("GET", "/metrics")
                if reply.status == 200 { metrics = reply.body }
            }
            #expect(metrics.contains(#"parley_http_refused_total{reason="http_sockets"}"#))
        }
    }

    @Test func theSixtyFifthUnfinishedSocketFromOneAddressIsClosedAtOnce() async throws {
        try await withServer(timeout: .seconds(60), .set(\.handshakeTimeout, .seconds(120))) { server in
            let limit = Limits.unfinishedSocketsPerAddress
            var probes: [TCPProbe] = []
            for _ in 0...limit { probes.append(try await TCPProbe.connect(port: server.port)) }
            // Which one the server counts last depends on its event loops; exactly one goes, at once.
            let (closes, closed) = AsyncStream.makeStream(of: Int.self)
            for (index, probe) in probes.enumerated() {
                probe.channel.closeFuture.whenComplete { _ in closed.yield(index) }
            }
            defer { for probe in probes { probe.close() } }
            let first = try? await withTimeout(.seconds(5)) {
                var iterator = closes.makeAsyncIterator()
                return await iterator.next()
            }
            guard let first else {
                Issue.record("no socket was closed")
                return
            }
            let open = probes.enumerated().filter { $0.offset != first }.map(\.element)
            let stillOpen = open.filter(\.isOpen).count
            #expect(stillOpen == limit)
            // The others are served once they send their requests, and every finished one frees a place.
            for probe in open {
                #expect(try await probe.request("GET", "/healthz").status == 200)
            }
            let late = try await TCPProbe.connect(port: server.port)
            defer { late.close() }
            #expect(try await late.request("GET", "/healthz").status == 200)
        }
    }

    /// An upgraded socket is no longer unfinished: one address can hold more members than unfinished sockets.
    @Test func upgradedSocketsGiveTheirPlaceBack() async throws {
        try await withServer(timeout: .seconds(60), .set(\.handshakeTimeout, .seconds(120))) { server in
            var members: [RawSocket] = []
            defer { for member in members { member.close() } }
            for index in 0...Limits.unfinishedSocketsPerAddress {
                members.append(try await server.join("room=many&nick=m\(index)").0)
            }
            let late = try await TCPProbe.connect(port: server.port)
            defer { late.close() }
            #expect(try await late.request("GET", "/healthz").status == 200)
        }
    }

    // MARK: HTTP requests that change state

    @Test func aFloodOfPostsIsRateLimitedWithRetryAfter() async throws {
        try await withServer(.set(\.httpRateBurst, 5), .set(\.httpRatePerSecond, 0.01)) { server in
            _ = try await server.join("room=flood&nick=reader")
            let probe = try await TCPProbe.connect(port: server.port)
            let json = [("Content-Type", "application/json")]
            for n in 1...5 {
                let posted = try await probe.request("POST", "/api/rooms/flood/messages", body: #"{"nick":"f","text":"m\#(n)"}"#, headers: json)
                #expect(posted.status == 201)
            }
            let refused = try await probe.request("POST", "/api/rooms/flood/messages", body: #"{"nick":"f","text":"m6"}"#, headers: json)
            #expect(refused.status == 429 && refused.errorCode == "rate_limited")
            let retryAfter = try #require(refused.headers["retry-after"].flatMap { Int($0) })
            #expect(retryAfter >= 1 && retryAfter <= 100)
            // Other verbs that change state count too; reading does not.
            #expect(try await probe.request("POST", "/api/rooms", headers: json).status == 429)
            #expect(try await probe.request("DELETE", "/api/rooms").status == 429)
            #expect(try await probe.request("GET", "/api/rooms/flood/messages").status == 200)
            // Search reads, but a query can cost the database far more than a post: it counts too.
            #expect(try await probe.request("GET", "/api/rooms/flood/search?q=m").status == 429)
            // However the path is spelled on its way to the same route.
            for path in ["/api/rooms/flood/search/?q=m", "//api/rooms/flood/search?q=m", "/api//rooms/flood//search?q=m"] {
                #expect(try await probe.request("GET", path).status == 429, "\(path)")
            }
            let page = try await server.http("GET", "/api/rooms/flood/messages")
            #expect((page.json["messages"] as? [Any])?.count == 5)
        }
    }

    @Test func zeroPerSecondTurnsTheHTTPRateLimitOff() async throws {
        try await withServer(.set(\.httpRateBurst, 1), .set(\.httpRatePerSecond, 0)) { server in
            for _ in 0..<5 {
                let created = try await server.http("POST", "/api/rooms")
                #expect(created.status == 201)
            }
        }
    }

    @Test func crossSiteFormPostsAreRefused() async throws {
        try await withServer(.set(\.allowedOrigins, ["https://friend.example"])) { server in
            _ = try await server.join("room=xs&nick=reader")
            let probe = try await TCPProbe.connect(port: server.port)
            let body = #"{"nick":"mallory","text":"hi"}"#
            // What an HTML form or a simple cross-site fetch can send without a preflight.
            for type in ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let reply = try await probe.request("POST", "/api/rooms/xs/messages", body: body, headers: [("Content-Type", type)])
                #expect(reply.status == 415 && reply.errorCode == "bad_request", "\(type)")
            }
            let untyped = try await probe.request("POST", "/api/rooms/xs/messages", body: body)
            #expect(untyped.status == 415)
            let foreign = try await probe.request(
                "POST",
                "/api/rooms/xs/messages",
                body: body,
                headers: [("Content-Type", "application/json"), ("Origin", "https://evil.example")]
            )
            #expect(foreign.status == 403 && foreign.errorCode == "forbidden")
            // The same origin, an allowed one, JSON with parameters, and an empty body without a type pass.
            for (origin, type) in [
                ("http://127.0.0.1:\(server.port)", "application/json"), ("https://friend.example", "Application/JSON; charset=utf-8"),
            ] {
                let reply = try await probe.request(
                    "POST",
                    "/api/rooms/xs/messages",
                    body: body,
                    headers: [("Content-Type", type), ("Origin", origin)]
                )
                #expect(reply.status == 201, "\(origin)")
            }
            #expect(try await probe.request("POST", "/api/rooms").status == 201)
            let page = try await server.http("GET", "/api/rooms/xs/messages")
            #expect((page.json["messages"] as? [Any])?.count == 2)
        }
    }

    @Test func postingUnderALiveMembersNickIsRefused() async throws {
        try await withServer { server in
            let (alice, _) = try await server.join("room=imp&nick=Alice")
            let impersonation = try await server.http("POST", "/api/rooms/imp/messages", body: #"{"nick":" aLICE ","text":"send me your password"}"#)
            #expect(impersonation.status == 409 && impersonation.errorCode == "nick_taken")
            let other = try await server.http("POST", "/api/rooms/imp/messages", body: #"{"nick":"bob","text":"hello"}"#)
            #expect(other.status == 201)
            #expect(try await alice.nextMessage().nick == "bob")
            // Once she has gone, the nick is free over HTTP too.
            alice.close()
            try await eventually {
                let reply = try await server.http("POST", "/api/rooms/imp/messages", body: #"{"nick":"alice","text":"bye"}"#)
                guard reply.status == 201 else { throw TimedOut() }
            }
        }
    }

    // MARK: Host and Origin

    @Test func dnsRebindingHostsAreRefusedOnALoopbackServer() async throws {
        try await withServer(.set(\.publicURL, PublicURL("https://chat.example/"))) { server in
            let probe = try await TCPProbe.connect(port: server.port)
            let rebound = [("Host", "attacker.example:\(server.port)"), ("Origin", "http://attacker.example:\(server.port)")]
            let page = try await probe.request("GET", "/api/rooms/x/messages", headers: rebound)
            #expect(page.status == 403 && page.errorCode == "forbidden")
            let post = try await probe.request("POST", "/api/rooms", body: "{}", headers: rebound + [("Content-Type", "application/json")])
            #expect(post.status == 403)
            let upgrade = try await TCPProbe.connect(port: server.port)
            let refusal = try await upgrade.request(
                "GET",
                "/ws?room=x",
                headers: rebound + [
                    ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Sec-WebSocket-Version", "13"),
                ]
            )
            #expect(refusal.status == 403 && refusal.errorCode == "forbidden")
            for host in ["localhost:\(server.port)", "LOCALHOST", "127.0.0.1", "127.1.2.3:\(server.port)", "[::1]:\(server.port)", "chat.example"] {
                #expect(try await probe.request("GET", "/healthz", headers: [("Host", host)]).status == 200, "\(host)")
            }
            // The public URL's origin may post.
            let fromPublic = try await probe.request(
                "POST",
                "/api/rooms",
                headers: [("Host", "chat.example"), ("Origin", "https://chat.example")]
            )
            #expect(fromPublic.status == 201)
        }
    }

    // MARK: client addresses

    @Test func aTrustedProxysForwardedClientsAreCountedApart() async throws {
        try await withServer(
            .set(\.trustedProxies, [AddressRange("127.0.0.0/8")!, AddressRange("10.0.0.0/8")!]),
            .set(\.httpRateBurst, 2),
            .set(\.httpRatePerSecond, 0.01),
            .set(\.maxConnectionsPerAddress, 1)
        ) { server in
            func post(_ forwardedFor: String) async throws -> Int {
                try await server.http("POST", "/api/rooms", headers: [("X-Forwarded-For", forwardedFor)]).status
            }
            #expect(try await post("203.0.113.5") == 201)
            #expect(try await post("203.0.113.5") == 201)
            #expect(try await post("203.0.113.5") == 429)
            #expect(try await post("203.0.113.6") == 201)
            // The right-most untrusted entry counts, not what the client put in front of it, nor a trusted hop.
            #expect(try await post("198.51.100.1, 203.0.113.5") == 429)
            #expect(try await post("203.0.113.5, 10.1.1.1") == 429)
            // WebSockets per client address, behind the same proxy.
            _ = try await server.connect("room=p&nick=a", headers: [("X-Forwarded-For", "203.0.113.7")]).welcome()
            _ = try await server.connect("room=p&nick=b", headers: [("X-Forwarded-For", "203.0.113.8")]).welcome()
            let refusal = try await refused { try await server.connect("room=p&nick=c", headers: [("X-Forwarded-For", "203.0.113.7")]) }
            #expect(refusal.status == 429)
        }
    }

    @Test func forwardedForIsIgnoredWithoutATrustedProxy() async throws {
        try await withServer(.set(\.httpRateBurst, 2), .set(\.httpRatePerSecond, 0.01)) { server in
            for (n, status) in [201, 201, 429].enumerated() {
                let reply = try await server.http("POST", "/api/rooms", headers: [("X-Forwarded-For", "203.0.113.\(n)")])
                #expect(reply.status == status)
            }
        }
    }

    // MARK: TLS

    @Test func tlsBelowVersion1_2IsRefused() async throws {
        let tls = try await SelfSignedCertificate.make()
        let openssl = SelfSignedCertificate.openssl
        /// Exit status of a handshake with only `version` offered (`SECLEVEL=0` lets OpenSSL 3 offer the old ones).
        @Sendable func handshake(_ version: String, port: Int) async throws -> Int32 {
            let client = try await ChildProcess(
                "/bin/sh",
                ["-c", "\(openssl) s_client -connect 127.0.0.1:\(port) \(version) -cipher DEFAULT@SECLEVEL=0 </dev/null"]
            )
            return await client.exitStatus()
        }
        try await withServer(.set(\.tlsCertificatePath, tls.certificate), .set(\.tlsKeyPath, tls.key)) { server in
            for (version, accepted) in [("-tls1_2", true), ("-tls1_3", true), ("-tls1_1", false), ("-tls1", false)] {
                let status = try await handshake(version, port: server.port)
                #expect((status == 0) == accepted, "\(version)")
            }
        }
    }

    @Test func aStalledTLSHandshakeIsClosed() async throws {
        let tls = try await SelfSignedCertificate.make()
        try await withServer(
            timeout: .seconds(20),
            .set(\.tlsCertificatePath, tls.certificate),
            .set(\.tlsKeyPath, tls.key),
            .set(\.handshakeTimeout, .seconds(1))
        ) { server in
            let probe = try await TCPProbe.connect(port: server.port)
            // The first bytes of a ClientHello record, and then nothing.
            try await probe.channel.writeAndFlush(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
            #expect(await probe.closes(within: .seconds(5)))
            probe.close()
        }
    }
}
