import Foundation
import GRDB
import ParleyProtocol
import ParleyTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Storage faults are answered, never hung (contract §8, version 2): a lock held elsewhere delays only the
/// writers waiting for it, and a full disk gives `unavailable` and 503 until space is back, losing nothing
/// that was acknowledged.
@Suite struct StorageFaultTests {
    struct NotYet: Error {}

    /// The first `error` or `message` event.
    static func answer(_ socket: RawSocket) async throws -> ServerEvent {
        try await socket.next { event in
            switch event {
            case .message, .error: event
            default: nil
            }
        }
    }

    @Test func aLockedDatabaseDoesNotFreezeOtherSocketsOnTheSameLoop() async throws {
        try await withServer(.set(\.eventLoops, 1), .set(\.ratePerSecond, 0)) { server in
            let (writer, _) = try await server.join("room=locked&nick=w")
            let (bystander, _) = try await server.join("room=elsewhere&nick=b")
            // Another connection, as another process would, takes the write lock and keeps it.
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: server.databasePath, configuration: configuration)
            try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let start = ContinuousClock.now
            try await writer.send(.message(text: "waits", clientID: "w-1"))
            // The writer waits for the lock; the one event loop both sockets are on goes on serving. A loop frozen
            // behind the writer would answer only when the writer gives up, at the 5 s storage deadline; half of
            // that leaves room for a machine busy with the whole suite (1 s was once missed by 23 ms).
            for _ in 0..<5 {
                let sent = ContinuousClock.now
                try await bystander.send(.ping)
                _ = try await bystander.next { event in event == .pong ? true : nil }
                #expect(ContinuousClock.now - sent < .milliseconds(2500))
            }
            // Past the deadline the writer hears `unavailable` for its message, not silence.
            #expect(
                try await Self.answer(writer) == .error(code: .unavailable, message: "the message could not be stored; resend it", clientID: "w-1")
            )
            #expect(ContinuousClock.now - start < .seconds(8))
            #expect(try await server.http("GET", "/metrics").body.contains("\nparley_storage_healthy 0"))
            try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
            try await writer.send(.message(text: "waits", clientID: "w-1"))
            let stored = try await writer.nextMessage()
            #expect(stored.id == 1 && stored.clientID == "w-1")
            #expect(try await server.http("GET", "/metrics").body.contains("\nparley_storage_healthy 1"))
        }
    }

    @Test(
        .enabled(if: SmallFileSystem.canMount, "needs root and permission to mount a tmpfs (mount -t tmpfs)"),
        .timeLimit(.minutes(3))
    )
    func aFullDiskGivesUnavailableAnd503ThenRecoversWithNothingLost() async throws {
        let disk = try SmallFileSystem(megabytes: 8)
        defer { disk.unmount() }
        let path = disk.url.appendingPathComponent("full.sqlite").path
        try await withServer(timeout: .seconds(150), .set(\.database, .sqliteFile(path)), .set(\.ratePerSecond, 0)) { server in
            let (socket, _) = try await server.join("room=full&nick=f")
            #expect(try await server.http("GET", "/healthz").status == 200)
            try disk.fill(leaving: 192 * 1024)

            let padding = String(repeating: "x", count: 2000)
            var acknowledged: [Int64: String] = [:]
            var refused: [(clientID: String, text: String)] = []
            for n in 1...2000 where refused.count < 3 {
                let (clientID, text) = ("full-\(n)", "\(n) \(padding)")
                let sent = ContinuousClock.now
                try await socket.send(.message(text: text, clientID: clientID))
                switch try await Self.answer(socket) {
                case .message(let message):
                    #expect(message.clientID == clientID)
                    acknowledged[message.id] = text
                case .error(let code, _, let id):
                    #expect(code == .unavailable && id == clientID)
                    refused.append((clientID, text))
                default:
                    break
                }
                #expect(ContinuousClock.now - sent < .seconds(6))
            }
            try #require(refused.count == 3, "the disk never filled up")
            #expect(try await server.http("GET", "/healthz").status == 503)
            #expect(try await server.http("GET", "/metrics").body.contains("\nparley_storage_healthy 0"))

            disk.emptyFiller()
            try await eventually {
                guard try await server.http("GET", "/healthz").status == 200 else { throw NotYet() }
            }
            #expect(try await server.http("GET", "/metrics").body.contains("\nparley_storage_healthy 1"))
            for (clientID, text) in refused {
                try await socket.send(.message(text: text, clientID: clientID))
                guard case .message(let message) = try await Self.answer(socket) else {
                    Issue.record("a resend after recovery was refused")
                    return
                }
                acknowledged[message.id] = text
            }
            // Every acknowledged message is stored under its id, with ids from 1 without a gap.
            var stored: [Int64: String] = [:]
            var after: Int64 = 0
            while true {
                let page = try await server.http("GET", "/api/rooms/full/messages?after=\(after)&limit=200").json
                let messages = try #require(page["messages"] as? [[String: Any]])
                for message in messages {
                    let id = try #require((message["id"] as? NSNumber)?.int64Value)
                    stored[id] = message["text"] as? String
                    after = max(after, id)
                }
                if page["has_more"] as? Bool != true { break }
            }
            #expect(stored == acknowledged)
            #expect(stored.keys.sorted() == Array(1...Int64(stored.count)))
        }
    }
}

/// A size-limited tmpfs, mounted for one test (needs root).
final class SmallFileSystem: Sendable {
    let url: URL
    private var filler: URL { url.appendingPathComponent("filler") }

    /// Whether this machine lets the tests mount one.
    static let canMount: Bool = {
        guard geteuid() == 0, let probe = try? SmallFileSystem(megabytes: 1) else { return false }
        probe.unmount()
        return true
    }()

    init(megabytes: Int) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("parley-small-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        // The system calls, not the mount tools: no child process to start from inside the test run.
        guard mount("parley-test", url.path, "tmpfs", 0, "size=\(megabytes)m") == 0 else {
            try? FileManager.default.removeItem(at: url)
            throw CocoaError(.fileWriteNoPermission)
        }
    }

    /// Takes all free space but `leaving` bytes.
    func fill(leaving: Int) throws {
        var stats = statvfs()
        guard statvfs(url.path, &stats) == 0 else { throw CocoaError(.fileReadUnknown) }
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        try Data(count: max(0, free - leaving)).write(to: filler)
    }

    func emptyFiller() {
        try? FileManager.default.removeItem(at: filler)
    }

    func unmount() {
        _ = umount2(url.path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(at: url)
    }
}
