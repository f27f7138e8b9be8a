import GRDB
import Logging
import Testing

@testable import ParleyServer

@Suite struct WALCheckpointerTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory(prefix: "parley-wal")
    }

    /// Under steady writes a passive pass never empties the log; the writer's checkpoint, once asked for, does,
    /// and the log then starts over. SQLite's own checkpoint is off here, so nothing else could restart it.
    @Test(.timeLimit(.minutes(1))) func aLongLogStartsOverAfterTheWriterCheckpoints() async throws {
        let path = directory.url.appendingPathComponent("wal.sqlite").path
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        let writer = try DatabasePool(path: path, configuration: configuration)
        try await writer.write { db in try db.execute(sql: "CREATE TABLE t (x BLOB)") }
        let restartPages = 16
        let checkpointer = WALCheckpointer(
            connection: try DatabaseQueue(path: path, configuration: configuration),
            interval: .milliseconds(5),
            restartPages: restartPages,
            logger: Logger(label: "test")
        )
        @Sendable func insert() async throws {
            // About three pages of log each.
            try await writer.write { db in try db.execute(sql: "INSERT INTO t VALUES (zeroblob(8000))") }
        }

        await withDiscardingTaskGroup { group in
            group.addTask { await checkpointer.run() }
            while !checkpointer.isRestartDue {
                try? await insert()
            }
            group.cancelAll()
        }
        // Something the passes have not copied, so the log cannot start over without the writer.
        try await insert()
        await checkpointer.restartIfDue(writer)
        #expect(!checkpointer.isRestartDue)
        try await insert()

        let logged = try await writer.writeWithoutTransaction { db in try db.checkpoint(.passive).walFrameCount }
        #expect(logged < restartPages)
    }
}
