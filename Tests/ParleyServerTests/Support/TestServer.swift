import Foundation
import Logging
import NIOCore
import NIOPosix
import ParleyProtocol

@testable import ParleyServer

/// A real server on 127.0.0.1, port 0, with its own SQLite file, for the duration of one test.
struct TestServer: Sendable {
    let port: Int
    let databasePath: String

    /// Opens a WebSocket with `query` (e.g. `room=a&nick=b`).
    func connect(
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
    func join(_ query: String) async throws -> (RawSocket, ServerEvent.Welcome) {
        let socket = try await connect(query)
        return (socket, try await socket.welcome())
    }

    /// One HTTP request; returns status and body.
    func http(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await HTTPReply.send(port: port, method: method, path: path, body: body, headers: headers)
    }
}

/// Runs `body` against a fresh server, then stops it. The whole test is bounded by `timeout`.
func withServer(
    timeout: Duration = .seconds(60),
    _ settings: Setting...,
    body: @escaping @Sendable (TestServer) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let databasePath = directory.appendingPathComponent("test.sqlite").path
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.database = .sqliteFile(databasePath)
    for setting in settings { setting.apply(&configuration) }
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let app = try await buildApplication(configuration: configuration, logger: .quiet) { port in
        portContinuation.yield(port)
    }
    try await withTimeout(timeout) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            try await body(TestServer(port: port, databasePath: databasePath))
            group.cancelAll()
        }
    }
}

struct TimedOut: Error {}

/// Runs `body`, failing with ``TimedOut`` if it takes longer than `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

extension Logger {
    /// Tests keep their output for failures.
    static let quiet: Logger = {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .critical
        return logger
    }()
}

/// An HTTP answer.
struct HTTPReply: Sendable {
    var status: Int
    var body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// The `error.code` of an error body.
    var errorCode: String? {
        (json["error"] as? [String: Any])?["code"] as? String
    }

    static func send(port: Int, method: String, path: String, body: String?, headers: [(String, String)]) async throws -> HTTPReply {
        let bytes = Array((body ?? "").utf8)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if body != nil { request += "Content-Type: application/json\r\nContent-Length: \(bytes.count)\r\n" }
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let (status, text) = try await RawSocket.exchange(port: port, request: Array(request.utf8) + bytes)
        return HTTPReply(status: status, body: text)
    }
}

/// One change to the test server's configuration, e.g. `.set(\.ratePerSecond, 0)`.
struct Setting {
    let apply: (inout ServerConfiguration) -> Void

    static func set<Value>(_ keyPath: WritableKeyPath<ServerConfiguration, Value>, _ value: Value) -> Setting {
        Setting { $0[keyPath: keyPath] = value }
    }
}
