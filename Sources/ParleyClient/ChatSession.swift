import Foundation
import HummingbirdWSClient
import Logging
import ParleyProtocol

/// A resuming chat session: connects to a room, reconnects with backoff when the connection or the server
/// drops, resumes with `since` and `session`, resends unacknowledged lines with their `client_id`, and
/// drops messages it has already seen.
///
/// ```swift
/// let session = ChatSession(configuration: configuration, logger: logger)
/// try await session.run(input: lines) { output in print(output) }
/// ```
public struct ChatSession: Sendable {
    public let configuration: ChatSessionConfiguration
    let logger: Logger

    public init(configuration: ChatSessionConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until `input` ends (or yields ``ChatInput/quit``) and every line is acknowledged.
    ///
    /// - Parameters:
    ///   - input: what the user does.
    ///   - output: called with everything to show, in order for chat events.
    /// - Throws: ``ChatClientError`` when the server cannot be reached at first, refuses the connection,
    ///   another client takes over the session, or lines stay unacknowledged at the end.
    public func run<Input: AsyncSequence<ChatInput, Never> & Sendable>(
        input: Input,
        output: @escaping @Sendable (ChatOutput) -> Void
    ) async throws {
        let box = ChatSessionBox(
            state: ChatSessionState(room: configuration.room, nick: configuration.nick, key: configuration.key, maxPending: configuration.maxPending)
        )
        let pending = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                try await runConnections(box: box, output: output)
                return 0
            }
            group.addTask {
                for await item in input {
                    if item == .quit { break }
                    for line in box.input(item) { output(line) }
                }
                let (outputs, stopNow) = box.finishInput()
                for line in outputs { output(line) }
                if stopNow { return 0 }
                try await Task.sleep(for: configuration.acknowledgementTimeout)
                return box.withState { $0.pending.count }
            }
            defer { group.cancelAll() }
            return try await group.next() ?? 0
        }
        if pending > 0 {
            throw ChatClientError(
                kind: .unacknowledged(count: pending),
                message: "\(pending) line\(pending == 1 ? " was" : "s were") not acknowledged by the server in time"
            )
        }
    }

    /// Connects again and again until the session is settled; throws when it must give up.
    private func runConnections(box: ChatSessionBox, output: @escaping @Sendable (ChatOutput) -> Void) async throws {
        let api = ParleyAPI(endpoint: configuration.endpoint)
        var backoff = configuration.initialBackoff
        var clientConfiguration = WebSocketClientConfiguration()
        clientConfiguration.maxFrameSize = configuration.maxFrameBytes
        clientConfiguration.autoPing = .enabled(timePeriod: .seconds(30))
        while true {
            let query = box.withState { $0.connectionQuery }
            let everConnected = box.withState { $0.hasConnected }
            output(.status(.connecting(url: "\(configuration.endpoint.webSocketBase)/ws?room=\(configuration.room)")))
            var reason = "connection closed"
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: configuration.endpoint.webSocketURL(query: query),
                    configuration: clientConfiguration,
                    logger: logger
                ) { inbound, outbound, _ in
                    try await serve(inbound: inbound, outbound: outbound, box: box, output: output)
                }
                if let closeFrame {
                    if closeFrame.closeCode == .init(codeNumber: Int(CloseCode.replaced.rawValue)) {
                        _ = box.disconnected()
                        throw ChatClientError(kind: .replaced, message: "another client took over this session (close \(CloseCode.replaced))")
                    }
                    reason = "closed by the server (\(closeFrame.summary))"
                }
            } catch let error as ChatClientError {
                throw error
            } catch let error as WebSocketClientError where error == .webSocketUpgradeFailed {
                let refusal = await api.refusal(forWebSocketQuery: query)
                // Once connected before, a probe that passes every check (400 "expected a WebSocket upgrade")
                // means the refusal has already cleared: reconnect.
                guard everConnected, refusal.isTransient || refusal.code == ErrorCode.badRequest.rawValue else { throw refusal }
                reason = refusal.description
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                try Task.checkCancellation()
                guard everConnected else {
                    throw ChatClientError(
                        kind: .unreachable,
                        message: "cannot reach \(configuration.endpoint.webSocketBase): \(Self.describe(error))"
                    )
                }
                reason = Self.describe(error)
            }
            if box.disconnected() { backoff = configuration.initialBackoff }
            if box.withState(\.isSettled) { return }
            output(.status(.disconnected(reason: reason)))
            output(.status(.reconnecting(after: backoff)))
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, configuration.maxBackoff)
        }
    }

    /// One connection: this task reads events, a child task writes frames.
    private func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        box: ChatSessionBox,
        output: @escaping @Sendable (ChatOutput) -> Void
    ) async throws {
        let (outgoing, writer) = AsyncStream.makeStream(of: ChatSessionBox.Outgoing.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var pacer = SendPacer(burst: configuration.sendBurst, perSecond: configuration.sendPerSecond)
                for await item in outgoing {
                    switch item {
                    case .frame(let frame):
                        if let wait = pacer.take() { try await Task.sleep(for: wait) }
                        try await outbound.write(.text(frame))
                    case .frameAfterPause(let frame):
                        try await Task.sleep(for: .seconds(1))
                        try await outbound.write(.text(frame))
                    case .pace(let limits):
                        pacer = SendPacer(limits: limits)
                    case .close:
                        try await outbound.close(.normalClosure, reason: nil)
                        return
                    }
                }
            }
            let decoder = JSONDecoder()
            for try await message in inbound.messages(maxSize: configuration.maxFrameBytes) {
                guard case .text(let text) = message else { continue }
                guard let event = try? decoder.decode(ServerEvent.self, from: Data(text.utf8)) else {
                    logger.debug("ignoring a frame that is not a known event")
                    continue
                }
                for line in box.receive(event, writer: writer) { output(line) }
            }
            writer.finish()
            group.cancelAll()
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.localizedCaseInsensitiveContains("connection refused") { return "connection refused" }
        if text.localizedCaseInsensitiveContains("connection reset") { return "connection reset" }
        return String(text.prefix(200))
    }
}

extension ChatClientError {
    /// A refusal worth retrying after a reconnect: the server is busy, restarting or limiting connections.
    var isTransient: Bool {
        switch kind {
        case .refused(let status): status == 429 || status == 503
        case .unreachable: true
        default: false
        }
    }
}
