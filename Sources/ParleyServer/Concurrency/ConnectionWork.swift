import ServiceLifecycle

/// Runs what connections have to wait for, since a connection has no task of its own once it has joined:
/// a `history` page, a resend lookup, a rename or typing notice on a cluster, a message that found the
/// commit queue full, a member's release from the cluster.
///
/// A fixed set of worker tasks takes jobs from one bounded queue. A connection reads nothing more while
/// its job runs (``ChatSocketHandler``), so the queue holds at most about one job per connection.
final class ConnectionWork: Service {
    typealias Job = @Sendable () async -> Void

    private let queue: CommitQueue<Job>
    let workers: Int

    init(workers: Int = 16, capacity: Int = 65_536) {
        self.workers = workers
        self.queue = CommitQueue(capacity: capacity)
    }

    /// Queues a job; false when the queue is full or the server has stopped (the caller answers
    /// `unavailable`).
    func submit(_ job: @escaping Job) -> Bool {
        queue.offer(job)
    }

    /// Runs the workers. On graceful shutdown (after the connections were drained) no new job is taken,
    /// and the queued ones still run: a release must reach the database.
    func run() async {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<workers {
                    group.addTask {
                        while let jobs = await self.queue.popBatch(max: 1) {
                            for job in jobs { await job() }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.queue.finish()
        }
    }
}
