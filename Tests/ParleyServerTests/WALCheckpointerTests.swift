import Foundation
import GRDB
import Logging
import ParleyTestSupport
import Testing

@testable import ParleyServer

@Suite struct WALCheckpointerTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory(prefix: "parley-wal")
    }

    /// A database file in WAL mode with a table `t`, SQLite's own checkpoint off, and a checkpointer whose
    /// passes come every 5 ms (not started).
    struct Log {
        let path: String
        let configuration: Configuration
        let writer: DatabasePool
        let checkpointer: WALCheckpointer

        var parts: (path: String, writer: DatabasePool, checkpointer: WALCheckpointer) { (path, writer, checkpointer) }
    }

    func log(_ name: String, restartPages: Int = WALCheckpointer.defaultRestartPages, cutBack: Bool = false) async throws -> Log {
        let path = directory.url.appendingPathComponent(name).path
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            if cutBack { try db.execute(sql: "PRAGMA journal_size_limit = 0") }
        }
        let writer = try DatabasePool(path: path, configuration: configuration)
        try await writer.write { db in try db.execute(sql: "CREATE TABLE t (x BLOB)") }
        let checkpointer = WALCheckpointer(
            connection: try DatabaseQueue(path: path, configuration: configuration),
            interval: .milliseconds(5),
            restartPages: restartPages,
            logger: Logger(label: "test")
        )
        return Log(path: path, configuration: configuration, writer: writer, checkpointer: checkpointer)
    }

    /// A pass asks for the writer's checkpoint once the log is long; that checkpoint empties the log, and the
    /// next commit starts it over (the file is cut back to `journal_size_limit`). SQLite's own checkpoint is
    /// off here, and the passes have stopped, so nothing else could start the log over.
    @Test(.timeLimit(.minutes(1))) func aLongLogStartsOverAfterTheWriterCheckpoints() async throws {
        let restartPages = 16
        let (path, writer, checkpointer) = try await log("wal.sqlite", restartPages: restartPages, cutBack: true).parts
        @Sendable func insert() async throws {
            // About three pages of log each.
            try await writer.write { db in try db.execute(sql: "INSERT INTO t VALUES (zeroblob(8000))") }
        }
        func logBytes() throws -> Int {
            try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        }

        await withDiscardingTaskGroup { group in
            group.addTask { await checkpointer.run() }
            while !checkpointer.isRestartDue {
                try? await insert()
                checkpointer.committed()
            }
            group.cancelAll()
        }
        // A log longer than the limit that no pass has copied (had the last pass copied everything, the first
        // of these inserts started it over by itself).
        for _ in 0...restartPages / 3 { try await insert() }
        let longLog = try logBytes()
        #expect(longLog >= restartPages * 4096)

        await checkpointer.restartIfDue(writer)
        try await insert()
        #expect(try logBytes() < longLog / 2)
    }

    /// Passes follow the commits: none while nothing was committed, one every `interval` while commits keep
    /// coming, and a few commits wait at most `lightInterval`.
    @Test func passesArePacedByTheCommits() {
        let busy = WALCheckpointer.busyCommits
        #expect(!WALCheckpointer.isPassDue(commits: 0, sinceLastPass: .seconds(60)))
        #expect(WALCheckpointer.isPassDue(commits: busy, sinceLastPass: .zero))
        #expect(!WALCheckpointer.isPassDue(commits: busy - 1, sinceLastPass: WALCheckpointer.defaultInterval))
        #expect(!WALCheckpointer.isPassDue(commits: 1, sinceLastPass: WALCheckpointer.lightInterval - .milliseconds(1)))
        #expect(WALCheckpointer.isPassDue(commits: 1, sinceLastPass: WALCheckpointer.lightInterval))
    }

    /// While nothing is counted, passes leave the log alone; one counted commit brings a pass within
    /// `lightInterval`, which copies the log into the database file.
    @Test(.timeLimit(.minutes(1))) func anIdleLogGetsNoPassAndACountedCommitGetsOne() async throws {
        let (path, writer, checkpointer) = try await log("idle.sqlite").parts
        func databaseBytes() throws -> Int {
            try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        }
        try await writer.write { db in try db.execute(sql: "INSERT INTO t VALUES (zeroblob(100000))") }
        let before = try databaseBytes()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await checkpointer.run() }
            // Absence can only be shown by waiting: three light intervals with nothing counted.
            try await Task.sleep(for: WALCheckpointer.lightInterval * 3)
            #expect(try databaseBytes() == before)
            checkpointer.committed()
            try await eventually(attempts: 100) {
                guard try databaseBytes() > before + 100_000 else { throw CancellationError() }
            }
            group.cancelAll()
        }
    }

    /// A writer's checkpoint that cannot copy the whole log (a reader holds an older snapshot) is asked for
    /// again, and once the reader is gone the next one empties the log.
    @Test(.timeLimit(.minutes(1))) func aCheckpointAReaderHeldBackIsAskedForAgain() async throws {
        let log = try await log("held.sqlite", restartPages: 4)
        let (path, writer, checkpointer) = log.parts
        // A reader whose snapshot predates the inserts below, kept open across them.
        var readerConfiguration = log.configuration
        readerConfiguration.allowsUnsafeTransactions = true
        let reader = try DatabaseQueue(path: path, configuration: readerConfiguration)
        try await reader.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM t")
        }
        await withDiscardingTaskGroup { group in
            group.addTask { await checkpointer.run() }
            while !checkpointer.isRestartDue {
                try? await writer.write { db in try db.execute(sql: "INSERT INTO t VALUES (zeroblob(8000))") }
                checkpointer.committed()
            }
            group.cancelAll()
        }

        await checkpointer.restartIfDue(writer)
        #expect(checkpointer.isRestartDue)

        try await reader.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
        await checkpointer.restartIfDue(writer)
        #expect(!checkpointer.isRestartDue)
    }
}
