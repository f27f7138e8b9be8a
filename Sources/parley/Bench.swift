import ArgumentParser
import Foundation
import Logging
import ParleyBench
import ParleyProtocol
import ParleyServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `parley bench URL`: a load generator that also checks every delivery's message id.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a server with chat traffic; report throughput, latency and every gap, duplicate or reordering.",
        discussion: """
            URL is the server, ws://HOST:PORT or http://HOST:PORT. Rooms get fresh codes (pbXXXXXXXX-N) every run. \
            The server must not rate-limit the publishers: run Parley with --rate-per-second 0, and with \
            --max-connections-per-address above rooms x members. The report goes to standard output (one JSON \
            object with --json), progress to standard error once a second.

            Exit codes: 0 every delivery arrived in order; 65 a gap, duplicate or reordering was seen, or \
            deliveries were still missing after the drain; 64 bad usage; 69 a member could not connect or join; \
            75 the hard deadline stopped the run (ids were in order as far as it went).

            Failover mode (--failover, open loop at --rate, default 100/s): with several URLs (a cluster's nodes), \
            --fault-command runs --fault-at seconds into the run; every member whose socket drops reconnects to the \
            next node with since and session, and publishers resend what was not acknowledged with the same client_id. \
            It reports deliveries, gaps, duplicates, messages stored twice, lost nicks and the time from the first \
            drop until every moved member had its welcome again.
            """
    )

    @Argument(help: "The server: ws://HOST:PORT or http://HOST:PORT; several (a cluster's nodes) spread each room's members over all.")
    var urls: [String]
    @Option(help: "Rooms.") var rooms = 10
    @Option(help: "Members per room.") var members = 10
    @Option(help: "Members per room that send.") var publishers = 1
    @Option(help: "Open loop: messages per second in total, spread over the publishers.") var rate: Double?
    @Option(help: "Closed loop: messages in flight per publisher (default 8; not with --rate).") var window: Int?
    @Option(help: "Seconds of warm-up before measuring.") var warmup = 2.0
    @Option(help: "Seconds measured.") var duration = 8.0
    @Option(help: "Bytes of message text (at least the marker, about 30).") var size = 64
    @Option(help: "Seconds to wait after the window for deliveries still on their way.") var drain = 5.0
    @Option(help: "Closed loop: seconds after which a message not yet delivered to every member is given up.") var ackTimeout = 2.0
    @Option(help: "Seconds for every member to connect and receive its welcome.") var joinTimeout = 30.0
    // A server refuses a 65th unfinished socket from one address (contract §6), so no more are opened at once.
    @Option(help: "Connections opened at once (a server allows 64 unfinished ones per address).") var concurrency = Limits.unfinishedSocketsPerAddress
    @Flag(help: "Idle mode: connect every member, print 'ready N', then wait for one message per member sent by someone else.")
    var idle = false
    @Option(help: "Idle mode: seconds to wait for the broadcast after everyone joined.") var hold = 60.0
    @Option(help: "Room codes are PREFIX-N (default: random per run); processes with one prefix share rooms.") var roomPrefix: String?
    @Flag(help: "Storm mode: connect every member, run --restart-command, then reconnect everyone at once with since and session.")
    var storm = false
    @Option(help: "Storm mode: a shell command that restarts the server and exits once it accepts connections again.")
    var restartCommand: String?
    @Option(help: "Storm mode: messages sent to each room before the restart.") var history = 20
    @Option(help: "Storm mode: messages sent to each room after the restart, before the members come back.") var missed = 5
    @Option(
        help:
            "Storm mode: dial from this many source addresses 127.0.0.1, .2, …, --concurrency from each (a server bounds unfinished sockets per address)."
    )
    var sourceAddresses = 1
    @Flag(help: "Failover mode: members whose node drops them move to the next node with since and session; publishers resend with client_id.")
    var failover = false
    @Option(help: "Failover mode: a shell command run --fault-at seconds after the publishers start (e.g. kill -9 of one node).")
    var faultCommand: String?
    @Option(help: "Failover mode: seconds after the publishers start at which --fault-command runs.") var faultAt = 3.0
    @Flag(help: "Print the report as one JSON object.") var json = false
    @Flag(help: "No progress line.") var quiet = false
    @Option(help: "Log level for connection internals (trace … critical).") var logLevel = "critical"

    func validate() throws {
        guard !urls.isEmpty else { throw ValidationError("give at least one server URL") }
        guard rooms >= 1, members >= 1 else { throw ValidationError("--rooms and --members must be at least 1") }
        guard (1...members).contains(publishers) else { throw ValidationError("--publishers must be between 1 and --members") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be above 0") }
        if let window, window < 1 { throw ValidationError("--window must be at least 1") }
        guard rate == nil || window == nil else { throw ValidationError("--rate (open loop) and --window (closed loop) exclude each other") }
        guard warmup >= 0, duration > 0, drain >= 0, ackTimeout > 0, joinTimeout > 0 else {
            throw ValidationError("--duration, --ack-timeout and --join-timeout must be above 0; --warmup and --drain at least 0")
        }
        guard (1...Limits.defaultMaxFrameBytes).contains(size) else {
            throw ValidationError("--size must be between 1 and \(Limits.defaultMaxFrameBytes)")
        }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        if storm {
            guard !idle else { throw ValidationError("--storm and --idle exclude each other") }
            guard restartCommand != nil else { throw ValidationError("--storm needs --restart-command") }
            guard history >= 0, missed >= 0 else { throw ValidationError("--history and --missed must be at least 0") }
            guard (1...254).contains(sourceAddresses) else { throw ValidationError("--source-addresses must be between 1 and 254") }
        } else if sourceAddresses != 1 {
            throw ValidationError("--source-addresses is for --storm")
        }
        if failover {
            guard !idle, !storm else { throw ValidationError("--failover excludes --idle and --storm") }
            guard window == nil else { throw ValidationError("--failover is open loop: give --rate, not --window") }
            guard faultAt >= 0, faultAt < duration else { throw ValidationError("--fault-at must be at least 0 and below --duration") }
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
    }

    func run() async throws {
        let endpoints: [BenchEndpoint]
        do {
            endpoints = try urls.map { (url) throws(BenchError) in try BenchEndpoint(parsing: url) }
        } catch {
            throw fail(error.message, code: ClientExitCode.usage)
        }
        var plan = BenchPlan(endpoints: endpoints, rooms: rooms, membersPerRoom: members)
        plan.publishersPerRoom = publishers
        plan.load = rate.map { .rate($0) } ?? .window(window ?? 8)
        plan.warmup = .seconds(warmup)
        plan.duration = .seconds(duration)
        plan.size = size
        plan.drain = .seconds(drain)
        plan.ackTimeout = .seconds(ackTimeout)
        plan.joinTimeout = .seconds(joinTimeout)
        plan.connectConcurrency = concurrency
        plan.sourceAddresses = sourceAddresses
        if storm, let plain = endpoints.first(where: { !$0.webSocketBase.hasPrefix("ws://") }) {
            throw fail("storm mode dials plain ws:// only, not \(plain)", code: ClientExitCode.usage)
        }
        if sourceAddresses > 1, let remote = endpoints.first(where: { !$0.webSocketBase.hasPrefix("ws://127.") }) {
            throw fail("--source-addresses needs servers on 127.0.0.0/8, not \(remote)", code: ClientExitCode.usage)
        }
        if let roomPrefix { plan.roomPrefix = roomPrefix }
        if let problem = Self.raiseFileLimit(toFit: rooms * members) { throw fail(problem, code: ClientExitCode.usage) }

        var logger = Logger(label: "parley.bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .critical
        if idle {
            try await runIdle(plan: plan, logger: logger)
            return
        }
        if storm, let restartCommand {
            try await runStorm(plan: plan, restartCommand: restartCommand, logger: logger)
            return
        }
        if failover {
            try await runFailover(plan: plan, logger: logger)
            return
        }
        let onTerminal = isatty(STDERR_FILENO) == 1
        let showProgress = !quiet
        let report: BenchReport
        do {
            report = try await BenchRunner(plan: plan, logger: logger).run { progress in
                guard showProgress else { return }
                Terminal.standardError.write(onTerminal ? "\r\(progress.line)\u{1B}[K" : "\(progress.line)\n")
            }
        } catch {
            if showProgress, onTerminal { Terminal.standardError.write("\n") }
            throw fail(error.message, code: error.kind == .usage ? ClientExitCode.usage : ClientExitCode.unavailable)
        }
        if showProgress, onTerminal { Terminal.standardError.write("\r\u{1B}[K") }
        if json {
            try writeJSON(report)
        } else {
            Terminal.standardOutput.write(report.text)
        }
        // A run cut short by the deadline is always missing deliveries: report it as cut short (75) unless
        // the ids themselves were wrong.
        if report.hasIDFaults { throw ExitCode(ClientExitCode.dataError) }
        if !report.completed { throw ExitCode(ClientExitCode.temporaryFailure) }
        if !report.isClean { throw ExitCode(ClientExitCode.dataError) }
    }

    /// Idle mode: holds every connection until each has received a message, or `--hold` runs out.
    private func runIdle(plan: BenchPlan, logger: Logger) async throws {
        let runner = IdleRunner(plan: plan, hold: .seconds(hold), logger: logger)
        let report = await runner.run { joined in
            Terminal.standardOutput.write("ready \(joined)\n")
        }
        if json {
            try writeJSON(report)
        } else {
            let spread = report.spreadSeconds.map { String(format: "%.2f s", $0) } ?? "-"
            Terminal.standardOutput.write(
                "idle: \(report.connections) connections, \(report.joined) joined in \(String(format: "%.1f", report.joinSeconds)) s, "
                    + "\(report.received) received the broadcast (spread \(spread)), \(report.retries) joins retried, \(report.failed) failed"
                    + (report.firstError.map { "; first failure: \($0)" } ?? "") + "\n"
            )
        }
        // Members that never joined are a connection problem (69); joined members that missed the
        // broadcast are a delivery problem (65).
        if report.joined < report.connections { throw ExitCode(ClientExitCode.unavailable) }
        if !report.isComplete { throw ExitCode(ClientExitCode.dataError) }
    }

    /// Storm mode: everyone connects, the server restarts, everyone comes back at once.
    private func runStorm(plan: BenchPlan, restartCommand: String, logger: Logger) async throws {
        let limit = plan.joinTimeout
        let runner = StormRunner(plan: plan, history: history, missed: missed, logger: logger) {
            try await RestartCommand(command: restartCommand, limit: limit).run()
        }
        let showProgress = !quiet
        let report = await runner.run { phase in
            if showProgress { Terminal.standardError.write("parley bench --storm: \(phase)\n") }
        }
        try finish(report)
    }

    /// Failover mode: traffic over every node while `--fault-command` takes one away.
    private func runFailover(plan: BenchPlan, logger: Logger) async throws {
        var plan = plan
        plan.warmup = .zero
        let limit = plan.joinTimeout
        let command = faultCommand
        let runner = FailoverRunner(plan: plan, rate: rate ?? 100, faultAt: command.map { _ in .seconds(faultAt) }, logger: logger) {
            if let command { try await RestartCommand(command: command, limit: limit, name: "fault command").run() }
        }
        let showProgress = !quiet
        let report = await runner.run { phase in
            if showProgress { Terminal.standardError.write("parley bench --failover: \(phase)\n") }
        }
        try finish(report)
    }

    /// Prints a storm or failover report. The server's faults (wrong ids, lost nicks, messages stored twice,
    /// members behind) exit 65; anything else that kept the run from settling (a member not back, a message
    /// never acknowledged) is a connection problem, 69.
    private func finish(_ report: some CheckedReport) throws {
        if json {
            try writeJSON(report)
        } else {
            Terminal.standardOutput.write(report.text)
        }
        if report.hasFaults { throw ExitCode(ClientExitCode.dataError) }
        if !report.isClean { throw ExitCode(ClientExitCode.unavailable) }
    }

    /// Writes a report as one line of JSON, keys sorted, for scripts.
    private func writeJSON(_ report: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        Terminal.standardOutput.write(String(decoding: try encoder.encode(report), as: UTF8.self) + "\n")
    }

    private func fail(_ message: String, code: Int32) -> ExitCode {
        Terminal.standardError.write("parley: error: \(message)\n")
        return ExitCode(code)
    }

    /// Each member is a socket: raises the soft limit on open files up to the hard one when needed.
    /// Returns a problem when even the hard limit is too low.
    static func raiseFileLimit(toFit sockets: Int) -> String? {
        let needed = sockets + 64
        guard let hard = OpenFiles.raiseSoftLimit(to: needed) else { return nil }
        return "\(sockets) connections need \(needed) open files, but this process may have at most \(hard)"
    }
}
