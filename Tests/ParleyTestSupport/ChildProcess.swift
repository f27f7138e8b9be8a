import Foundation
import Synchronization

/// A program run as a child process, with its output readable line by line.
public final class ChildProcess: Sendable {
    public let process: Process
    public let stdin: FileHandle
    private let stdoutLines: LineBuffer
    private let stderrLines: LineBuffer
    private let exits: AsyncStream<Int32>

    /// Starts `executable`; `environment` is added to this process's own.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        stdoutLines = LineBuffer(output.fileHandleForReading)
        stderrLines = LineBuffer(errors.fileHandleForReading)
        stdin = input.fileHandleForWriting
        let (exits, exited) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { process in
            exited.yield(process.terminationStatus)
            exited.finish()
        }
        self.exits = exits
        self.process = process
        try process.run()
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
        stdin.write(Data((line + "\n").utf8))
    }

    public func signal(_ number: Int32) {
        // A process that never launched has pid 0, and kill(0, …) would signal the test run's whole group.
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        kill(pid, number)
    }

    /// Waits for the process to exit and returns its status (the exit code, or the signal that ended it); -1 if
    /// the wait was cancelled first.
    public func exitStatus() async -> Int32 {
        let (exits, process) = (self.exits, self.process)
        let pid = process.processIdentifier
        return await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exits { return status }
                // Asked before (the stream has ended), or cancelled.
                return process.isRunning ? nil : process.terminationStatus
            }
            // Foundation's termination handler has been seen to miss a child's exit while many processes start
            // and end at once (and asking `terminationStatus` of a process it thinks is running traps), so the
            // exit is also looked for here, without reaping it (WNOWAIT): Foundation still does that.
            group.addTask {
                while !Task.isCancelled {
                    var info = siginfo_t()
                    if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid {
                        return info._sifields._sigchld.si_status
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let status = next { return status }
            }
            return -1
        }
    }

    deinit {
        if process.isRunning, process.processIdentifier > 0 { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Lines read from a pipe as they arrive.
private final class LineBuffer: Sendable {
    private struct State {
        var pending = Data()
        var lines: [String] = []
        var consumed = 0
        var ended = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init(_ handle: FileHandle) {
        handle.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            let waiters: [CheckedContinuation<Void, Never>] = self.state.withLock { state in
                if data.isEmpty {
                    // A last line without a newline still counts.
                    if !state.pending.isEmpty {
                        state.lines.append(String(decoding: state.pending, as: UTF8.self))
                        state.pending.removeAll()
                    }
                    state.ended = true
                    handle.readabilityHandler = nil
                } else {
                    state.pending.append(data)
                    while let newline = state.pending.firstIndex(of: 10) {
                        state.lines.append(String(decoding: state.pending[state.pending.startIndex..<newline], as: UTF8.self))
                        state.pending.removeSubrange(state.pending.startIndex...newline)
                    }
                }
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
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

    /// Starts `parley serve` on port 0; `database` is a SQLite path or a `postgres://` URL.
    public static func start(database: String, _ extra: [String] = [], environment: [String: String] = [:]) async throws -> ChildServer {
        let location = database.hasPrefix("postgres://") ? database : "sqlite:\(database)"
        let child = try ChildProcess(
            ChildProcess.parleyPath,
            ["serve", "--port", "0", "--database", location, "--rate-per-second", "0"] + extra,
            environment: environment
        )
        let line = try await child.stderrLine(containing: "listening on ")
        guard let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) else {
            throw RawSocket.Failure.unexpected("no port in \(line)")
        }
        return ChildServer(child: child, port: port)
    }

    public var server: TestServer { TestServer(port: port, databasePath: "") }
}
