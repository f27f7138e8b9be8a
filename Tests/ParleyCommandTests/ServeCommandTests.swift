import Foundation
import ParleyProtocol
import ParleyServer
import ParleyTestSupport
import Testing

@testable import parley

/// `parley serve` as users start it: environment twins, start-up validation, TLS.
@Suite struct ServeCommandTests {
    let temporary: TemporaryDirectory
    var directory: URL { temporary.url }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "parley-serve")
    }

    /// The flags' defaults are the configuration's, so that `parley serve` and a server built in code agree.
    @Test func defaultsAreTheServerConfigurations() throws {
        #expect(String(describing: try Serve.parse([]).serverConfiguration) == String(describing: ServerConfiguration()))
    }

    @Test func environmentTwinsFillOnlyTheFlagsNotGiven() {
        let environment = [
            "PARLEY_HOST": "::1", "PARLEY_PORT": "9000", "PARLEY_RATE_BURST": "7", "PARLEY_UNKNOWN": "x",
            "PARLEY_ALLOWED_ORIGIN": "https://a.example,https://b.example",
        ]
        let extra = Serve.environmentArguments(given: ["--port", "1", "--rate-burst=3"], environment: environment)
        #expect(extra == ["--host", "::1", "--allowed-origin", "https://a.example", "--allowed-origin", "https://b.example"])
    }

    @Test func environmentTwinsApplyAndFlagsWin() async throws {
        try await withTimeout(.seconds(30)) {
            let server = try await ChildServer.start(
                database: directory.appendingPathComponent("env.sqlite").path,
                environment: [
                    "PARLEY_ROOM_CREATION": "api",
                    "PARLEY_MAX_FRAME_BYTES": "1024",
                    "PARLEY_MAX_MESSAGE_BYTES": "512",
                    "PARLEY_EVENT_LOOPS": "1",
                    // The --database flag ChildServer passes must win over this.
                    "PARLEY_DATABASE": "not-a-database",
                ]
            )
            defer { server.child.signal(SIGKILL) }
            let unknown = try await refused { try await server.server.connect("room=nosuch") }
            #expect(unknown.status == 404)
            let created = try await server.server.http("POST", "/api/rooms")
            let code = try #require(created.json["code"] as? String)
            let (socket, _) = try await server.server.join("room=\(code)&nick=a")
            try await socket.send(String(repeating: "x", count: 2000))
            #expect(try await socket.closeCode() == 1009)
        }
    }

    @Test(arguments: [
        (["--port", "70000"], [String: String](), "--port must be 0-65535"),
        (["--database", "postgres:///db"], [:], "--database must be"),
        (["--database", "mysql://x"], [:], "--database must be"),
        (["--room-creation", "closed"], [:], "--room-creation must be open or api"),
        (["--tls-cert", "cert.pem"], [:], "--tls-cert and --tls-key go together"),
        ([], ["PARLEY_MAX_FRAME_BYTES": "lots"], "max-frame-bytes"),
        ([], ["PARLEY_RATE_BURST": "0"], "--rate-burst must be at least 1"),
        ([], ["PARLEY_EVENT_LOOPS": "0"], "--event-loops must be 1-256"),
        // Two values given that contradict each other, on the command line or through the environment.
        (["--max-message-bytes", "2048", "--max-frame-bytes", "1024"], [:], "--max-message-bytes must not exceed --max-frame-bytes"),
        (["--max-frame-bytes", "1024"], ["PARLEY_MAX_MESSAGE_BYTES": "2048"], "--max-message-bytes must not exceed"),
        (["--max-file-bytes", "2048", "--max-room-file-bytes", "1024"], [:], "--max-file-bytes must not exceed --max-room-file-bytes"),
        (["--max-file-bytes", "0"], [:], "--max-file-bytes must be at least 1"),
        (["--trusted-proxy", "10.0.0.0/33"], [:], "--trusted-proxy 10.0.0.0/33 is not"),
        ([], ["PARLEY_TRUSTED_PROXY": "10.0.0.0/8,bogus"], "--trusted-proxy bogus is not"),
        (["--public-url", "chat.example"], [:], "--public-url must be"),
        (["--embed-origin", "https://app.example/chat"], [:], "--embed-origin https://app.example/chat is not an origin"),
        ([], ["PARLEY_EMBED_ORIGIN": "https://app.example,'none'"], "--embed-origin 'none' is not an origin"),
        (["--handshake-timeout", "0"], [:], "--handshake-timeout must be at least 1"),
        ([], ["PARLEY_HTTP_RATE_BURST": "0"], "--http-rate-burst must be at least 1"),
        (["--http-rate-per-second=-1"], [:], "--http-rate-per-second must be 0 or more"),
        ([], ["PARLEY_MAX_TOTAL_FILE_BYTES": "0"], "--max-total-file-bytes must be at least 1"),
        (["--write-timeout", "0"], [:], "--write-timeout must be at least 1"),
        ([], ["PARLEY_SQLITE_SYNCHRONOUS": "off"], "--sqlite-synchronous must be full or normal"),
        ([], ["PARLEY_ADMIN_TOKEN": "short"], "--admin-token must be 16-256 bytes"),
    ])
    func badValuesAreRefusedAtStartUp(arguments: [String], environment: [String: String], message: String) async throws {
        try await withTimeout(.seconds(30)) {
            let child = try await ChildProcess(ChildProcess.parleyPath, ["serve", "--port", "0"] + arguments, environment: environment)
            _ = try await child.stderrLine(containing: message)
            #expect(await child.exitStatus() == 64)
        }
    }

    /// A limit given alone never fails because of the other's default (contract §6): the frame limit alone
    /// lowers the message limit to it, a message limit alone raises the frame limit, and `welcome.limits`
    /// says what applies.
    @Test func oneLimitAloneStartsAndTheOtherFollows() async throws {
        try await withTimeout(.seconds(60)) {
            let small = try await ChildServer.start(
                database: directory.appendingPathComponent("frame.sqlite").path,
                ["--max-frame-bytes", "1024", "--max-file-bytes", "2147483648"]
            )
            defer { small.child.signal(SIGKILL) }
            let (socket, welcome) = try await small.server.join("room=limits&nick=a")
            #expect(welcome.limits == Limits(maxMessageBytes: 1024, maxFileBytes: 2_147_483_648, rateBurst: 20, ratePerSecond: 0))
            try await socket.send(String(repeating: "y", count: 1024))
            #expect(try await socket.nextMessage().text.utf8.count == 1024)
            try await socket.send(String(repeating: "z", count: 1025))
            #expect(try await socket.closeCode() == 1009)

            let large = try await ChildServer.start(
                database: directory.appendingPathComponent("message.sqlite").path,
                ["--max-message-bytes", "100000"]
            )
            defer { large.child.signal(SIGKILL) }
            let (big, bigWelcome) = try await large.server.join("room=limits&nick=b")
            #expect(bigWelcome.limits?.maxMessageBytes == 100_000)
            try await big.send(String(repeating: "w", count: 100_000))
            #expect(try await big.nextMessage().text.utf8.count == 100_000)
        }
    }

    @Test func tlsServesHTTPSAndWSS() async throws {
        let websocat = try #require(ChildProcess.onPath("websocat"), "websocat is not installed")
        try await withTimeout(.seconds(60)) {
            let tls = try await SelfSignedCertificate.make()
            let (cert, key) = (tls.certificate, tls.key)
            let server = try await ChildServer.start(
                database: directory.appendingPathComponent("tls.sqlite").path,
                ["--tls-cert", cert, "--tls-key", key]
            )
            defer { server.child.signal(SIGKILL) }
            // `-w '\n'` ends the body with a newline, so the line does not depend on seeing the pipe's end.
            let curl = try await ChildProcess("/usr/bin/curl", ["-sk", "-w", "\n", "https://127.0.0.1:\(server.port)/healthz"])
            _ = try await curl.stdoutLine(containing: #""status":"ok""#)
            let client = try await ChildProcess(websocat, ["-k", "-t", "wss://127.0.0.1:\(server.port)/ws?room=secure&nick=tls"])
            let welcome = try await client.stdoutLine(containing: #""type":"welcome""#)
            #expect(welcome.contains(#""nick":"tls""#))
            client.write("over tls")
            _ = try await client.stdoutLine(containing: #""text":"over tls""#)
            client.signal(SIGKILL)
        }
    }
}
