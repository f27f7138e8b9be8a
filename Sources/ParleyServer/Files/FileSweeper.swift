import Logging
import ParleyProtocol
import ServiceLifecycle

/// Deletes files no message took within their lifetime (§14), and content no file uses any more (a deleted
/// message's, a deleted room's, an abandoned upload's), then updates `parley_file_bytes`.
struct FileSweeper: Service {
    let files: any FileStore
    let lifetime: Duration
    let metrics: FileMetrics
    let logger: Logger

    /// Often enough that a file lives at most a quarter longer than its lifetime; at most a minute apart.
    var interval: Duration { min(.seconds(60), lifetime / 4) }

    /// The first pass comes an interval after start rather than at once, when a restarted server's clients are
    /// all coming back; what it deletes waits that much longer.
    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            await sweepOnce()
        }
    }

    func sweepOnce() async {
        let cutoff = Timestamp(milliseconds: Timestamp.now().milliseconds - lifetime.milliseconds)
        do {
            metrics.storedBytes.record(try await files.sweep(unattachedBefore: cutoff))
        } catch {
            logger.warning("file sweep failed", metadata: ["error": "\(error)"])
        }
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
