import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import ParleyServer

/// Which heads ``WebSocketHandshake`` answers itself and which it hands to NIO's HTTP pipeline.
@Suite struct UpgradeRequestTests {
    /// What a browser sends, give or take a few fields.
    static let browser = [
        "GET /ws?room=lobby&nick=ann HTTP/1.1",
        "Host: chat.example:8080",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
        "Accept: */*",
        "Origin: http://chat.example:8080",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Cookie: a=b; c=d",
        "Upgrade: websocket",
    ]

    private func head(_ lines: [String]) -> [UInt8] {
        Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    private func scan(_ bytes: [UInt8], scanned: Int = 0) -> UpgradeRequest.Scan {
        bytes.withUnsafeBytes { UpgradeRequest.scan($0, scanned: scanned) }
    }

    private func isOther(_ bytes: [UInt8]) -> Bool {
        if case .other = scan(bytes) { return true }
        return false
    }

    private func upgrade(_ bytes: [UInt8]) -> UpgradeRequest? {
        if case .upgrade(let request) = scan(bytes) { return request }
        return nil
    }

    @Test func aBrowsersUpgradeIsReadWithEveryField() throws {
        let bytes = head(Self.browser)
        // A frame sent right behind the head is not part of it.
        let request = try #require(upgrade(bytes + [0x81, 0x80, 1, 2, 3, 4]))
        #expect(request.length == bytes.count)
        #expect(request.key == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(request.target == "/ws?room=lobby&nick=ann")
        // Only the fields the admission reads are kept, each as often as it came.
        #expect(request.fields.map(\.name) == ["host", "origin"])
        #expect(request.fields.map(\.value) == ["chat.example:8080", "http://chat.example:8080"])
        var forwarded = Self.browser
        forwarded.insert(contentsOf: ["X-Forwarded-For: 192.0.2.1", "x-FORWARDED-for: 198.51.100.2, 203.0.113.3"], at: 3)
        let behindProxies = try #require(upgrade(head(forwarded)))
        #expect(behindProxies.fields.filter { $0.name == "x-forwarded-for" }.map(\.value) == ["192.0.2.1", "198.51.100.2, 203.0.113.3"])
        // No query, other spellings, and `websocket` anywhere in the list of protocols.
        var lines = Self.browser
        lines[0] = "GET /ws HTTP/1.1"
        lines[10] = "upgrade:foo/2,  WebSocket \t"
        lines[6] = "SEC-WEBSOCKET-KEY:   abc=  "
        let other = try #require(upgrade(head(lines)))
        #expect(other.target == "/ws" && other.key == "abc=")
    }

    @Test func everyPartOfAHeadWaitsForTheRest() {
        let bytes = head(Self.browser)
        for count in 1..<bytes.count {
            guard case .incomplete = scan(Array(bytes.prefix(count))) else {
                Issue.record("\(count) bytes were not incomplete")
                return
            }
        }
    }

    /// A scan goes on from where the last one stopped, whatever the pieces were, including a blank line cut in two.
    @Test func aScanGoesOnWhereTheLastOneStopped() {
        let bytes = head(Self.browser)
        for cut in 1..<bytes.count {
            guard case .incomplete = scan(Array(bytes.prefix(cut))), case .upgrade(let request) = scan(bytes, scanned: cut) else {
                Issue.record("cut at \(cut) was not read")
                return
            }
            #expect(request.length == bytes.count)
        }
    }

    @Test func otherRequestsAreHandedOverFromTheirFirstBytes() {
        for start in ["POST /ws?room=a HTTP/1.1", "GET /api/rooms HTTP/1.1", "GET /wsx HTTP/1.1", "get /ws HTTP/1.1", "GET / HTTP/1.1"] {
            #expect(isOther(Array(start.utf8).prefix(8).map { $0 }), "\(start)")
        }
        #expect(isOther(Array("PUT".utf8)))
    }

    /// Anything out of the ordinary goes to NIO's parser, which decides as it always has.
    @Test func unusualHeadsAreHandedOver() {
        var cases: [String: [String]] = [:]
        func with(_ index: Int, _ line: String) -> [String] {
            var lines = Self.browser
            lines[index] = line
            return lines
        }
        cases["HTTP/1.0"] = with(0, "GET /ws?room=a HTTP/1.0")
        cases["space in the target"] = with(0, "GET /ws?room=a b HTTP/1.1")
        cases["a folded line"] = Self.browser + [" continued"]
        cases["a space before the colon"] = with(1, "Host : chat.example")
        cases["no colon"] = with(1, "Host chat.example")
        cases["an empty name"] = with(1, ": chat.example")
        cases["a body"] = Self.browser + ["Content-Length: 0"]
        cases["a chunked body"] = Self.browser + ["Transfer-Encoding: chunked"]
        cases["two keys"] = Self.browser + ["Sec-WebSocket-Key: eHh4eHh4eHh4eHh4eHh4eA=="]
        cases["a list of keys"] = with(6, "Sec-WebSocket-Key: a, b")
        cases["an empty key"] = with(6, "Sec-WebSocket-Key:")
        cases["no key"] = Self.browser.filter { !$0.hasPrefix("Sec-WebSocket-Key") }
        cases["version 12"] = with(5, "Sec-WebSocket-Version: 12")
        cases["two versions"] = Self.browser + ["Sec-WebSocket-Version: 13"]
        cases["no upgrade"] = Self.browser.filter { !$0.hasPrefix("Upgrade") }
        cases["another protocol"] = with(10, "Upgrade: h2c")
        cases["too many fields"] = Self.browser + (0..<UpgradeRequest.maxFields).map { "X-Field-\($0): \($0)" }
        for (name, lines) in cases {
            #expect(isOther(head(lines)), "\(name)")
        }
        // Bytes that are not visible ASCII, and line ends that are not CRLF.
        var bytes = head(Self.browser)
        bytes[bytes.firstIndex(of: UInt8(ascii: "M"))!] = 0xC3
        #expect(isOther(bytes), "a byte above 127")
        bytes = head(Self.browser)
        bytes[bytes.firstIndex(of: UInt8(ascii: "M"))!] = 0
        #expect(isOther(bytes), "a NUL")
        let bareLF = Array((Self.browser.joined(separator: "\n") + "\r\n\r\n").utf8)
        #expect(isOther(bareLF), "bare LF")
    }

    @Test func aHeadLongerThanTheLimitIsHandedOver() {
        let padding = "X-Padding: " + String(repeating: "p", count: UpgradeRequest.maxLength)
        var bytes = Array((Self.browser + [padding]).joined(separator: "\r\n").utf8)
        #expect(isOther(bytes), "unfinished")
        bytes += Array("\r\n\r\n".utf8)
        #expect(isOther(bytes), "finished")
    }

    /// RFC 6455 §1.3's example.
    @Test func theAcceptValueIsTheKeysHash() {
        #expect(WebSocketHandshake.accept(key: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    /// What the admission reads from a head the scan accepts is what NIO's parser read from it: the target, the
    /// `Host`, `Origin` and `X-Forwarded-For` values (white space and all), and the key as NIO's upgrader takes it.
    @Test func theAdmissionReadsWhatNIOsParserRead() throws {
        var heads: [[String]] = [Self.browser]
        func with(_ lines: [String]) { heads.append(Self.browser.filter { !$0.hasPrefix("Host") && !$0.hasPrefix("Origin") } + lines) }
        with(["Host: chat.example \t", "Origin:\thttp://chat.example  "])
        with(["host:chat.example", "HOST: second.example", "oRiGiN: "])
        with(["Host: a", "X-Forwarded-For: 192.0.2.1 ", "x-forwarded-for: 198.51.100.2,203.0.113.3", "Origin: null"])
        heads.append(Self.browser.map { $0.hasPrefix("Sec-WebSocket-Key") ? "Sec-WebSocket-Key: \t abc= \t" : $0 })
        for lines in heads {
            let bytes = head(lines)
            let scanned = try #require(upgrade(bytes), "\(lines)")
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
            defer { _ = try? channel.finish() }
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            guard case .head(let parsed) = try channel.readInbound(as: HTTPServerRequestPart.self) else {
                Issue.record("NIO read no head from \(lines)")
                continue
            }
            #expect(scanned.target == parsed.uri)
            for name in UpgradeRequest.admissionFields.map(\.description) {
                #expect(scanned.fields.filter { $0.name == name }.map(\.value) == parsed.headers[name], "\(name) in \(lines)")
            }
            #expect([scanned.key] == parsed.headers[canonicalForm: "sec-websocket-key"].map(String.init), "\(lines)")
        }
    }
}
