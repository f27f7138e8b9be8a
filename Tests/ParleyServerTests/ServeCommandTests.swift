import Foundation
import ParleyProtocol
import Testing

/// `parley serve` as users start it: environment twins, start-up validation, TLS.
@Suite struct ServeCommandTests {
    let temporary: TemporaryDirectory
    var directory: URL { temporary.url }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "parley-serve")
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
    ])
    func badValuesAreRefusedAtStartUp(arguments: [String], environment: [String: String], message: String) async throws {
        try await withTimeout(.seconds(30)) {
            let child = try ChildProcess(ChildProcess.parleyPath, ["serve", "--port", "0"] + arguments, environment: environment)
            _ = try await child.stderrLine(containing: message)
            #expect(await child.exitStatus() == 64)
        }
    }

    @Test func tlsServesHTTPSAndWSS() async throws {
        let websocat = try #require(ProcessTests.onPath("websocat"), "websocat is not installed")
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        try await withTimeout(.seconds(60)) {
            let openssl = try ChildProcess(
                "/usr/bin/openssl",
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]
            )
            #expect(await openssl.exitStatus() == 0)
            let server = try await ChildServer.start(
                database: directory.appendingPathComponent("tls.sqlite").path,
                ["--tls-cert", cert, "--tls-key", key]
            )
            defer { server.child.signal(SIGKILL) }
            // `-w '\n'` ends the body with a newline, so the line does not depend on seeing the pipe's end.
            let curl = try ChildProcess("/usr/bin/curl", ["-sk", "-w", "\n", "https://127.0.0.1:\(server.port)/healthz"])
            _ = try await curl.stdoutLine(containing: #""status":"ok""#)
            let client = try ChildProcess(websocat, ["-k", "-t", "wss://127.0.0.1:\(server.port)/ws?room=secure&nick=tls"])
            let welcome = try await client.stdoutLine(containing: #""type":"welcome""#)
            #expect(welcome.contains(#""nick":"tls""#))
            client.write("over tls")
            _ = try await client.stdoutLine(containing: #""text":"over tls""#)
            client.signal(SIGKILL)
        }
    }
}
