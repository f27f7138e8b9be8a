import Foundation
import ParleyProtocol
import ParleyServer

/// A real server on 127.0.0.1, port 0, with its own SQLite file, for the duration of one test.
public struct TestServer: Sendable {
    public let port: Int
    public let databasePath: String

    public init(port: Int, databasePath: String) {
        self.port = port
        self.databasePath = databasePath
    }

    /// Opens a WebSocket with `query` (e.g. `room=a&nick=b`).
    public func connect(
        _ query: String,
        headers: [(String, String)] = [],
        answerPings: Bool = true,
        readAutomatically: Bool = true
    ) async throws -> RawSocket {
        try await RawSocket.connect(
            port: port,
            path: "/ws?\(query)",
            headers: headers,
            answerPings: answerPings,
            readAutomatically: readAutomatically
        )
    }

    /// Connects and returns the socket with its welcome.
    public func join(_ query: String) async throws -> (RawSocket, ServerEvent.Welcome) {
        let socket = try await connect(query)
        return (socket, try await socket.welcome())
    }

    /// One HTTP request; returns status and body.
    public func http(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await HTTPReply.send(port: port, method: method, path: path, body: body, headers: headers)
    }
}

/// Runs `body` against a fresh server with its own SQLite file, then stops it. The whole test is bounded
/// by `timeout`.
public func withServer(
    timeout: Duration = .seconds(60),
    _ settings: Setting...,
    body: @escaping @Sendable (TestServer) async throws -> Void
) async throws {
    let directory = try TemporaryDirectory(prefix: "parley-test")
    let databasePath = directory.url.appendingPathComponent("test.sqlite").path
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.database = .sqliteFile(databasePath)
    for setting in settings { setting.apply(&configuration) }
    let ready = configuration
    // Both ends of every test socket are this process's: as `parley serve` does, take what the hard limit allows,
    // or the server's listener would hold sockets back (``OpenFiles``) where the soft limit is low.
    OpenFiles.raiseSoftLimit()
    try await withTimeout(timeout) {
        try await withApplication { listening in
            try await buildApplication(configuration: ready, logger: .quiet) { listening($0) }
        } body: { port in
            try await body(TestServer(port: port, databasePath: databasePath))
        }
        withExtendedLifetime(directory) {}
    }
}
