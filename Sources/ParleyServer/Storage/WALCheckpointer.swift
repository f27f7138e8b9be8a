import GRDB
import Logging
import Synchronization

/// Copies the write-ahead log back into the database file from a connection and thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that fills the log: every 1,000 pages it copied them
/// and synced both files while the event loop that committed waited, and that set the p99 latency of a
/// durable server (docs/ARCHITECTURE.md, "Checkpoints"). These passes run in passive mode, alongside commits.
///
/// A pass competes with the event loops for the CPU while it copies, so passes are kept short: while commits
/// keep coming, one runs `interval` (25 ms by default) after the previous one once `busyCommits` commits have
/// been counted; after fewer, once `lightInterval` has passed (checked every `interval`), so a lightly used
/// server does not sync its file 40 times a second; and none while nothing was committed
/// (``isPassDue(commits:sinceLastPass:)``). A pass that could not copy everything counts as a commit, so it
/// is tried again even if the server has gone idle.
///
/// A passive pass copies only what was logged when it began, and commits go on meanwhile, so under steady
/// writes it never empties the log, and SQLite starts the log over only once it has all been copied. So when the log has
/// grown past `restartPages`, the pass asks the writer to checkpoint right after its next commit
/// (``restartIfDue(_:)``): that copies just what was logged during the pass, and the next commit starts the
/// log from its beginning, truncating the file back to `restartPages` pages. The writer's own automatic
/// checkpoint stays on, at twice that, as a backstop.
///
/// Each restart makes the writer wait for two syncs, so restarts are kept rare: at a quarter of the default
/// they came often enough under load to set the p99 latency (docs/ARCHITECTURE.md, "Checkpoints").
final class WALCheckpointer: Sendable {
    /// Log pages (4 KB each) after which the writer empties the log, unless told otherwise.
    static let defaultRestartPages = 65_536

    /// How often a busy log gets a pass.
    static let defaultInterval = Duration.milliseconds(25)
    /// How often a log with few commits gets one.
    static let lightInterval = Duration.milliseconds(100)
    /// Commits since the last pass that make the log busy.
    static let busyCommits = 32

    private let connection: DatabaseQueue
    private let interval: Duration
    private let restartPages: Int
    private let logger: Logger
    private let restartDue = Atomic(false)
    /// Commits since the last pass began (``committed()``).
    private let commits = Atomic(0)

    init(connection: DatabaseQueue, interval: Duration = defaultInterval, restartPages: Int = defaultRestartPages, logger: Logger) {
        self.connection = connection
        self.interval = interval
        self.restartPages = restartPages
        self.logger = logger
    }

    /// A pass has found the log past `restartPages` and the writer has not checkpointed since.
    var isRestartDue: Bool {
        restartDue.load(ordering: .relaxed)
    }

    /// Counts a commit, for the pacing of passes. ``restartIfDueHere(_:)`` counts it too; other writes (a new
    /// room) call this.
    func committed() {
        commits.add(1, ordering: .relaxed)
    }

    /// Whether a pass should run now, given the commits since the last one began and the time since.
    static func isPassDue(commits: Int, sinceLastPass: Duration) -> Bool {
        commits >= busyCommits || (commits > 0 && sinceLastPass >= lightInterval)
    }

    /// Checkpoints, paced by the commits counted, until the task is cancelled.
    func run() async {
        let clock = ContinuousClock()
        var lastPass = clock.now
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            let counted = commits.load(ordering: .relaxed)
            guard Self.isPassDue(commits: counted, sinceLastPass: lastPass.duration(to: clock.now)) else { continue }
            commits.subtract(counted, ordering: .relaxed)
            lastPass = clock.now
            do {
                let (logged, copied) = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                // Commits went on during the pass, so the log is not empty; past the limit, the writer empties it.
                if logged >= restartPages {
                    restartDue.store(true, ordering: .relaxed)
                }
                // A reader's snapshot held part of the log back: try again later.
                if copied < logged { committed() }
                logger.trace("checkpoint", metadata: ["wal_frames": "\(logged)", "copied": "\(copied)"])
            } catch {
                committed()
                logger.debug("checkpoint failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// After each commit on the writer thread (``SQLiteWriter``): counts it and, when a pass has asked for it,
    /// checkpoints from the writer's connection right away. The batch just committed has been handed to its
    /// rooms already, and the event loops write it out meanwhile.
    func restartIfDueHere(_ writer: any DatabaseWriter) {
        committed()
        guard restartDue.exchange(false, ordering: .relaxed) else { return }
        restarted(Result { try writer.writeWithoutTransaction { db in try db.checkpoint(.passive) } })
    }

    /// ``restartIfDueHere(_:)`` for the writer task.
    func restartIfDue(_ writer: any DatabaseWriter) async {
        committed()
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
