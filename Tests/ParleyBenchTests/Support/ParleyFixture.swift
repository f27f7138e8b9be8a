import Foundation
import Logging
import ParleyServer

/// Runs `body` against a real Parley server on 127.0.0.1, port 0, with its own SQLite file and no rate
/// limit, then stops it.
func withParleyServer(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-bench-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var configuration = ServerConfiguration()
    configuration.port = 0
    configuration.database = .sqliteFile(directory.appendingPathComponent("bench.sqlite").path)
    configuration.ratePerSecond = 0
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    let app = try await buildApplication(configuration: configuration, logger: .quiet) { port in portSink.yield(port) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        try await body(port)
        group.cancelAll()
    }
}

extension Logger {
    /// Tests keep quiet.
    static let quiet: Logger = {
        var logger = Logger(label: "parley-bench-test")
        logger.logLevel = .critical
        return logger
    }()
}
