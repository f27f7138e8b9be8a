import HummingbirdWSClient
import Logging
import NIOCore
import ParleyClient
import Synchronization

/// A member's and an announcer's connections during a storm.
extension StormRunner {
    enum Outcome: Equatable {
        /// The connection got its `welcome` and later closed, with the server's close frame if one came.
        case dropped(close: String?)
        /// No attempt got a `welcome`, or the run stopped first.
        case failed
    }

    /// Holds one connection of a member, retrying a refused dial; signals `joined`/`caughtUp` (first
    /// connection) or `rejoined`/`done` (resuming) as they happen.
    func connection(url: String, resuming: Bool, publishes: Bool, box: MemberBox, shared: Shared) async -> Outcome {
        let expected = Int64(history + (resuming ? missed : 0))
        let welcomed = Latch<Void>()
        var problem = "closed before welcome"
        var close: WebSocketCloseFrame?
        for attempt in 1...Self.attempts {
            if attempt > 1 {
                shared.events.yield(.retried)
                try? await Task.sleep(for: .milliseconds(500 * attempt))
            }
            do {
                close = try await Self.connect(url: url, logger: logger) { inbound, outbound in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            guard await shared.stop.wait() != nil else { return }
                            try? await outbound.close(.normalClosure, reason: nil)
                        }
                        var partial: ByteBuffer?
                        var reached = false
                        for try await frame in inbound {
                            guard let message = BenchRunner.assemble(frame, into: &partial) else { continue }
                            let now = shared.elapsed()
                            if welcomed.value == nil {
                                guard let welcome = message.withUnsafeReadableBytes({ FrameScanner.scanWelcome($0) }) else { continue }
                                box.state.withLock { $0.welcome(welcome, at: now) }
                                welcomed.open()
                                shared.freed.yield()
                                shared.events.yield(resuming ? .rejoined(at: .now) : .joined)
                                if publishes {
                                    group.addTask {
                                        guard await shared.allJoined.wait() != nil else { return }
                                        try await Self.send(history, to: outbound, label: "room \(box.roomCode) before the restart")
                                    }
                                }
                            } else if case .message(let id, _) = message.withUnsafeReadableBytes({ FrameScanner.scan($0) }) {
                                box.state.withLock { $0.message(id: id, at: now) }
                            } else {
                                continue
                            }
                            if !reached, box.state.withLock({ $0.hasReached(($0.base ?? 0) + expected) }) {
                                reached = true
                                shared.events.yield(resuming ? .done(at: .now) : .caughtUp)
                            }
                        }
                        group.cancelAll()
                    }
                }
                problem = "closed before welcome"
            } catch {
                problem = "\(error)"
            }
            if welcomed.value != nil { return .dropped(close: close?.summary) }
            if shared.stop.value != nil || Task.isCancelled { break }
        }
        shared.freed.yield()
        shared.events.yield(.failed("\(box.roomCode) member \(box.nick): \(problem)"))
        return .failed
    }

    /// Room `room`'s announcer: joins after the restart, sends the messages everyone else misses, waits until
    /// they are stored (their echo), and stays until the run stops.
    func announcer(_ room: Int, shared: Shared) async {
        let code = plan.roomCode(room)
        let url = plan.endpoint(room: room, member: 0).webSocketURL(room: code, nick: Self.announcerNick)
        let welcomed = Latch<Void>()
        let announced = Latch<Void>()
        var problem = "closed before its messages were stored"
        do {
            _ = try await Self.connect(url: url, logger: logger) { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        guard await shared.stop.wait() != nil else { return }
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    var partial: ByteBuffer?
                    var target: Int64?
                    var newest: Int64 = 0
                    for try await frame in inbound {
                        guard let message = BenchRunner.assemble(frame, into: &partial) else { continue }
                        if welcomed.value == nil {
                            guard let welcome = message.withUnsafeReadableBytes({ FrameScanner.scanWelcome($0) }) else { continue }
                            newest = welcome.lastID ?? 0
                            target = newest + Int64(missed)
                            welcomed.open()
                            shared.freed.yield()
                            try await Self.send(missed, to: outbound, label: "room \(code) while away")
                        } else if case .message(let id, _) = message.withUnsafeReadableBytes({ FrameScanner.scan($0) }) {
                            newest = max(newest, id)
                        }
                        // Its own messages are back, so they are stored.
                        if let target, newest >= target, announced.value == nil {
                            announced.open()
                            shared.events.yield(.announced)
                        }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            problem = "\(error)"
        }
        if welcomed.value == nil { shared.freed.yield() }
        if announced.value == nil { shared.events.yield(.failed("\(code) announcer: \(problem)")) }
    }

    /// Sends `count` chat messages, one after the other.
    static func send(_ count: Int, to outbound: WebSocketOutboundWriter, label: String) async throws {
        for number in 0..<count {
            try await outbound.write(.text(#"{"type":"message","text":"storm \#(label) \#(number)"}"#))
        }
    }

    static func connect(
        url: String,
        logger: Logger,
        handler: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void
    ) async throws -> WebSocketCloseFrame? {
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = BenchRunner.maxMessageBytes
        configuration.closeTimeout = .seconds(2)
        return try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
            try await handler(inbound, outbound)
        }
    }

    /// A member's state, shared by its connection's reader and the member's task.
    final class MemberBox: Sendable {
        let state: Mutex<StormMember>
        let roomCode: String
        let nick: String

        init(_ member: StormMember) {
            state = Mutex(member)
            roomCode = member.roomCode
            nick = member.nick
        }
    }
}
