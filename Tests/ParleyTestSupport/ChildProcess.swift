import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// A program run as a child process, with its output readable line by line.
///
/// Started with swift-subprocess rather than Foundation's `Process`, whose `run()` was seen to crash the test
/// run (a bad read inside it) about once in every few full runs.
public final class ChildProcess: Sendable {
    private enum Command: Sendable {
        case write(String)
        case signal(Int32)
    }

    private let commands: AsyncStream<Command>.Continuation
    private let stdoutLines = LineBuffer()
    private let stderrLines = LineBuffer()
    private let status = ExitStatus()
    /// The child's process id, once it runs.
    public let pid: pid_t

    /// Starts `executable`, and returns once it runs; `environment` is added to this process's own.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws {
        let (commands, commander) = AsyncStream.makeStream(of: Command.self)
        let (launches, launched) = AsyncThrowingStream.makeStream(of: pid_t.self)
        let (stdoutLines, stderrLines, status) = (self.stdoutLines, self.stderrLines, self.status)
        var updates: [Environment.Key: String?] = [:]
        for (key, value) in environment { updates[Environment.Key(rawValue: key)!] = value }
        let configuration = Configuration(
            executable: .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(updates)
        )
        Task {
            do {
                let result = try await Subprocess.run(configuration, input: .inputWriter, output: .sequence, error: .sequence) { execution in
                    launched.yield(execution.processIdentifier.value)
                    launched.finish()
                    async let forwarded: Void = {
                        for await command in commands {
                            switch command {
                            case .write(let text): _ = try? await execution.standardInputWriter.write(text)
                            case .signal(let number): try? execution.send(signal: Signal(rawValue: number))
                            }
                        }
                        try? await execution.standardInputWriter.finish()
                    }()
                    async let output: Void = stdoutLines.read(execution.standardOutput)
                    async let errors: Void = stderrLines.read(execution.standardError)
                    // The child is done with its output when both pipes end (at its exit, as a rule); nothing
                    // sent after that could reach it, and `run` waits for this closure before it reaps.
                    _ = try await (output, errors)
                    commander.finish()
                    await forwarded
                }
                status.set(result.terminationStatus.code)
            } catch {
                launched.finish(throwing: error)
                stdoutLines.end()
                stderrLines.end()
                status.set(-1)
            }
        }
        var started: pid_t?
        for try await pid in launches { started = pid }
        guard let started else { throw CocoaError(.executableNotLoadable) }
        self.pid = started
        self.commands = commander
    }

    /// Runs `executable` to its end with its output discarded, and returns its exit status (or the signal that
    /// ended it). Only the program itself is waited for, not a daemon it leaves running.
    public static func run(_ executable: String, _ arguments: [String]) async throws -> Int32 {
        try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments), output: .discarded, error: .discarded)
            .terminationStatus.code
    }

    /// The `parley` executable built next to the test bundle (or `PARLEY_BIN`).
    public static var parleyPath: String {
        if let path = ProcessInfo.processInfo.environment["PARLEY_BIN"] { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("parley").path
    }

    /// The first executable called `name` in a folder of `PATH`, if any.
    public static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Waits for a line of standard output containing `text`.
    public func stdoutLine(containing text: String) async throws -> String {
        try await stdoutLines.line { $0.contains(text) }
    }

    /// Waits for a line of standard error containing `text`.
    public func stderrLine(containing text: String) async throws -> String {
        try await stderrLines.line { $0.contains(text) }
    }

    public func write(_ line: String) {
        commands.yield(.write(line + "\n"))
    }

    /// Sends `number` to the child while it runs; after it ended, there is nobody left to signal.
    public func signal(_ number: Int32) {
        commands.yield(.signal(number))
    }

    /// Waits for the process to exit and returns its status (the exit code, or the signal that ended it); -1 if
    /// the wait was cancelled first.
    public func exitStatus() async -> Int32 {
        await status.value()
    }

    deinit {
        commands.yield(.signal(SIGKILL))
        commands.finish()
    }
}

extension TerminationStatus {
    /// The exit code, or the signal that ended the process.
    fileprivate var code: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): signal
        }
    }
}

/// A child's exit status, awaited by any number of callers.
private final class ExitStatus: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [UInt64: CheckedContinuation<Int32, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    func set(_ status: Int32) {
        let waiters = state.withLock { state in
            state.status = status
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    func value() async -> Int32 {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: Int32? = state.withLock { state in
                    if let status = state.status { return status }
                    if Task.isCancelled { return -1 }
                    state.waiters[id] = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: -1)
        }
    }
}

/// Lines read from a pipe as they arrive.
private final class LineBuffer: Sendable {
    private struct State {
        var lines: [String] = []
        var consumed = 0
        var ended = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Reads `output` to its end, a line at a time (a last line without a newline still counts).
    func read(_ output: SubprocessOutputSequence) async throws {
        defer { end() }
        for try await line in output.strings(bufferingPolicy: .maxLineLength(1 << 20)) {
            let waiters = state.withLock { state in
                state.lines.append(line)
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    func end() {
        let waiters = state.withLock { state in
            state.ended = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    struct Ended: Error {}

    /// The next unread line that `match` accepts (earlier unread lines are skipped).
    func line(_ match: (String) -> Bool) async throws -> String {
        while true {
            try Task.checkCancellation()
            let (found, ended): (String?, Bool) = state.withLock { state in
                while state.consumed < state.lines.count {
                    let line = state.lines[state.consumed]
                    state.consumed += 1
                    if match(line) { return (line, false) }
                }
                return (nil, state.ended)
            }
            if let found { return found }
            if ended { throw Ended() }
            // Cancellation (a test's timeout) wakes every waiter, so a line that never comes fails the test
            // instead of hanging the run.
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state in
                        if state.consumed < state.lines.count || state.ended || Task.isCancelled { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                let waiters = state.withLock { state in
                    defer { state.waiters.removeAll() }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume() }
            }
        }
    }
}

/// `parley serve` as a child process, for tests that kill or signal it.
public struct ChildServer: Sendable {
    public let child: ChildProcess
    public let port: Int

    /// Starts `parley serve` on port 0; `database` is a SQLite path or a `postgres://` URL. With `openFiles`, the
    /// server may open at most that many files (`ulimit -n`).
    public static func start(
        database: String,
        _ extra: [String] = [],
        environment: [String: String] = [:],
        openFiles: Int? = nil
    ) async throws -> ChildServer {
        let location = database.hasPrefix("postgres://") ? database : "sqlite:\(database)"
        let serve = [ChildProcess.parleyPath, "serve", "--port", "0", "--database", location, "--rate-per-second", "0"] + extra
        let child: ChildProcess
        if let openFiles {
            // The shell sets the limit and then becomes the server (same process id).
            child = try await ChildProcess("/bin/sh", ["-c", "ulimit -n \(openFiles) && exec \"$@\"", "sh"] + serve, environment: environment)
        } else {
            child = try await ChildProcess(serve[0], Array(serve.dropFirst()), environment: environment)
        }
        let line = try await child.stderrLine(containing: "listening on ")
        guard let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else {
            throw RawSocket.Failure.unexpected("no port in \(line)")
        }
        return ChildServer(child: child, port: port)
    }

    public var server: TestServer { TestServer(port: port, databasePath: "") }
}
