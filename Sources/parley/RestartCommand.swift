import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `parley bench --storm --restart-command CMD` (and `--failover --fault-command CMD`): runs `CMD` with `/bin/sh -c` and waits for it to exit, at
/// most `limit` (then it gets SIGTERM). Its standard output goes to standard error, so that it cannot mix
/// with the report.
///
/// Only standard input, output and error are passed on. Spawned and reaped directly (a thread blocked in `waitpid`): the server the command starts in the
/// background outlives it, and nothing here may wait for that one.
struct RestartCommand: Sendable {
    var command: String
    var limit: Duration
    /// What the command is, in its errors.
    var name = "restart command"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        Self.keepDescriptorsToOurselves()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO)
        let arguments = ["/bin/sh", "-c", command].map { (argument: String) in strdup(argument) }
        defer { for argument in arguments { free(argument) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, nil, arguments + [nil], environ)
        guard spawned == 0 else { throw Failure(description: "cannot run /bin/sh: \(String(cString: strerror(spawned)))") }
        let child = pid
        let exited = Atomic<Bool>(false)
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            if !exited.load(ordering: .acquiring) { kill(child, SIGTERM) }
        }
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var status: Int32 = 0
                while waitpid(child, &status, 0) == -1, errno == EINTR {}
                exited.store(true, ordering: .releasing)
                continuation.resume(returning: status)
            }
        }
        if status & 0x7F != 0 {
            throw Failure(
                description: "the \(name) was stopped by signal \(status & 0x7F)" + (status & 0x7F == SIGTERM ? " after \(limit)" : "")
            )
        }
        guard (status >> 8) & 0xFF == 0 else { throw Failure(description: "the \(name) exited with status \((status >> 8) & 0xFF)") }
    }

    /// Marks every descriptor past standard error close-on-exec. The WebSocket client's sockets are not, and a
    /// server the command starts would otherwise hold every member's socket: the members' closes would not
    /// reach their peers, and the server would start with 10,000 descriptors fewer than it may open.
    static func keepDescriptorsToOurselves() {
        let limit = sysconf(Int32(_SC_OPEN_MAX))
        guard limit > 3 else { return }
        for descriptor in 3..<Int32(clamping: limit) {
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
