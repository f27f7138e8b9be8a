import Subprocess
import SystemPackage

/// `parley bench --storm --restart-command CMD` (and `--failover --fault-command CMD`): runs `CMD` with `/bin/sh -c`
/// and waits for it to exit, at most `limit` (then it gets SIGTERM, and SIGKILL 5 seconds later). Its standard
/// output goes to standard error, so that it cannot mix with the report.
///
/// Only the command itself is waited for, not the server it starts in the background. The command gets no
/// standard input and no descriptor of ours but standard error (as its output and error): the members' sockets
/// stay ours, so their closes reach their peers and the server starts with all the descriptors it may open.
struct RestartCommand: Sendable {
    var command: String
    var limit: Duration
    /// What the command is, in its errors.
    var name = "restart command"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(5))]
        let configuration = Configuration(executable: .path("/bin/sh"), arguments: ["-c", command], platformOptions: options)
        let (status, stopped) = try await withThrowingTaskGroup(of: TerminationStatus?.self) { group in
            group.addTask {
                let standardError = FileDescriptor.standardError
                return try await Subprocess.run(
                    configuration,
                    output: .fileDescriptor(standardError, closeAfterSpawningProcess: false),
                    error: .fileDescriptor(standardError, closeAfterSpawningProcess: false)
                ).terminationStatus
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            // Either the command's status, or the limit: then cancelling the run stops the command.
            let first = try await group.next()!
            group.cancelAll()
            if let first { return (first, false) }
            while let next = try await group.next() {
                if let next { return (next, true) }
            }
            throw Failure(description: "the \(name) did not report how it ended")
        }
        switch status {
        case .signaled(let signal):
            throw Failure(description: "the \(name) was stopped by signal \(signal)" + (stopped ? " after \(limit)" : ""))
        case .exited(let code):
            guard code == 0 else { throw Failure(description: "the \(name) exited with status \(code)") }
        }
    }
}
