import GRDB
import Logging
import NIOCore
import Synchronization

/// Copies the write-ahead log back into the database file from a connection and thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that fills the log: every 1,000 pages it copied them
/// and synced both files while the event loop that committed waited (3–12 ms per sync here), and that set the
/// p99 latency of a durable server. This pass runs every `interval` in passive mode, alongside commits.
///
/// A passive pass copies only what was logged when it began, and commits go on meanwhile, so under steady
/// writes it never empties the log, and SQLite starts the log over only once it has all been copied. So when the log has
/// grown past `restartPages`, the pass asks the writer to checkpoint right after its next commit
/// (``restartIfDue(_:)``): that copies just what was logged during the pass, and the next commit starts the
/// log from its beginning, truncating the file back to `restartPages` pages. The writer's own automatic
/// checkpoint stays on, at twice that, as a backstop.
///
/// Each restart makes the event loop wait for two syncs, so restarts are kept rare: at 16,384 pages they
/// came every second or two under load and set the p99 latency (docs/ARCHITECTURE.md, "Checkpoints").
final class WALCheckpointer: Sendable {
    /// Log pages (4 KB each) after which the writer empties the log, unless told otherwise.
    static let defaultRestartPages = 65_536

    private let connection: DatabaseQueue
    private let interval: Duration
    private let restartPages: Int
    private let logger: Logger
    private let restartDue = Atomic(false)

    init(connection: DatabaseQueue, interval: Duration, restartPages: Int = defaultRestartPages, logger: Logger) {
        self.connection = connection
        self.interval = interval
        self.restartPages = restartPages
        self.logger = logger
    }

    /// A pass has found the log past `restartPages` and the writer has not checkpointed since.
    var isRestartDue: Bool {
        restartDue.load(ordering: .relaxed)
    }

    /// Checkpoints every `interval` until the task is cancelled.
    func run() async {
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                let (logged, copied) = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                // Commits went on during the pass, so the log is not empty; past the limit, the writer empties it.
                if logged >= restartPages {
                    restartDue.store(true, ordering: .relaxed)
                }
                logger.trace("checkpoint", metadata: ["wal_frames": "\(logged)", "copied": "\(copied)"])
            } catch {
                logger.debug("checkpoint failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// After a commit on an event loop: when a pass has asked for it, checkpoints from the writer's connection
    /// in a later task on the loop, so that the batch just committed is written to its sockets first.
    func restartIfDue(_ writer: any DatabaseWriter, on eventLoop: any EventLoop) {
        guard restartDue.exchange(false, ordering: .relaxed) else { return }
        eventLoop.execute {
            self.restarted(Result { try writer.writeWithoutTransaction { db in try db.checkpoint(.passive) } })
        }
    }

    /// ``restartIfDue(_:on:)`` for the writer task.
    func restartIfDue(_ writer: any DatabaseWriter) async {
        guard restartDue.exchange(false, ordering: .relaxed) else { return }
        do {
            restarted(.success(try await writer.writeWithoutTransaction { db in try db.checkpoint(.passive) }))
        } catch {
            restarted(.failure(error))
        }
    }

    /// A writer's checkpoint that left part of the log behind (a pass held the checkpoint lock, or a reader
    /// an older snapshot) is asked for again after the next commit.
    private func restarted(_ result: Result<(walFrameCount: Int, checkpointedFrameCount: Int), any Error>) {
        switch result {
        case .success(let (logged, copied)):
            if copied < logged { restartDue.store(true, ordering: .relaxed) }
        case .failure(let error):
            restartDue.store(true, ordering: .relaxed)
            logger.debug("checkpoint failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
