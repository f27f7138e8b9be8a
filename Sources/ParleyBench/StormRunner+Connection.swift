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
    /// connection) or `rejoined`/`done` (resuming) as they happen. Frames are read on the event loop.
    func connection(url: String, address: Int, resuming: Bool, publishes: Bool, box: MemberBox, shared: Shared) async -> Outcome {
        let expected = Int64(history + (resuming ? missed : 0))
        let welcomed = Latch<Void>()
        let reached = Latch<Void>()
        let history = history
        var problem = "closed before welcome"
        let source = plan.sourceAddress(address)
        for attempt in 1...Self.attempts {
            if attempt > 1 {
                shared.events.yield(.retried)
                try? await Task.sleep(for: .milliseconds(500 * attempt))
            }
            do {
                let (channel, ended) = try await StormSocket.open(url: url, source: source) { message, channel in
                    let now = shared.elapsed()
                    if welcomed.value == nil {
                        guard let welcome = FrameScanner.scanWelcome(message) else { return }
                        box.state.withLock { $0.welcome(welcome, at: now) }
                        welcomed.open()
                        shared.freed.yield(address)
                        shared.events.yield(resuming ? .rejoined(at: .now) : .joined)
                        if publishes {
                            Task {
                                guard await shared.allJoined.wait() != nil, shared.stop.value == nil else { return }
                                Self.send(history, on: channel, label: "room \(box.roomCode) before the restart")
                            }
                        }
                    } else if case .message(let id, _) = FrameScanner.scan(message) {
                        box.state.withLock { $0.message(id: id, at: now) }
                    } else {
                        return
                    }
                    if reached.value == nil, box.state.withLock({ $0.hasReached(($0.base ?? 0) + expected) }) {
                        reached.open()
                        shared.events.yield(resuming ? .done(at: .now) : .caughtUp)
                    }
                }
                shared.register(channel)
                switch try await ended.get() {
                case .closed(let close):
                    if welcomed.value != nil { return .dropped(close: close) }
                    problem = "closed before welcome"
                case .failed(let reason):
                    if welcomed.value != nil { return .dropped(close: nil) }
                    problem = reason
                }
            } catch {
                problem = "\(error)"
            }
            if welcomed.value != nil { return .dropped(close: nil) }
            if shared.stop.value != nil || Task.isCancelled { break }
        }
        shared.freed.yield(address)
        shared.events.yield(.failed("\(box.roomCode) member \(box.nick): \(problem)"))
        return .failed
    }

    /// Room `room`'s announcer: joins after the restart, sends the messages everyone else misses, waits until
    /// they are stored (their echo), and stays until the run stops.
    func announcer(_ room: Int, address: Int, shared: Shared) async {
        let code = plan.roomCode(room)
        let url = plan.endpoint(room: room, member: 0).webSocketURL(room: code, nick: Self.announcerNick)
        let welcomed = Latch<Void>()
        let announced = Latch<Void>()
        let progress = Mutex<(target: Int64?, newest: Int64)>((nil, 0))
        let missed = missed
        var problem = "closed before its messages were stored"
        do {
            let (channel, ended) = try await StormSocket.open(url: url, source: plan.sourceAddress(address)) { message, channel in
                if welcomed.value == nil {
                    guard let welcome = FrameScanner.scanWelcome(message) else { return }
                    let newest = welcome.lastID ?? 0
                    progress.withLock { $0 = (newest + Int64(missed), newest) }
                    welcomed.open()
                    shared.freed.yield(address)
                    Self.send(missed, on: channel, label: "room \(code) while away")
                } else if case .message(let id, _) = FrameScanner.scan(message) {
                    progress.withLock { $0.newest = max($0.newest, id) }
                }
                // Its own messages are back, so they are stored.
                if announced.value == nil, progress.withLock({ state in state.target.map { state.newest >= $0 } ?? false }) {
                    announced.open()
                    shared.events.yield(.announced)
                }
            }
            shared.register(channel)
            if case .failed(let reason) = try await ended.get(), welcomed.value == nil { problem = reason }
        } catch {
            problem = "\(error)"
        }
        if welcomed.value == nil { shared.freed.yield(address) }
        if announced.value == nil { shared.events.yield(.failed("\(code) announcer: \(problem)")) }
    }

    /// Sends `count` chat messages, one after the other.
    static func send(_ count: Int, on channel: any Channel, label: String) {
        for number in 0..<count {
            StormSocket.send(#"{"type":"message","text":"storm \#(label) \#(number)"}"#, on: channel)
        }
    }

    /// A general WebSocket connection (the failover bench's; the storm has its own, cheaper ``StormSocket``).
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
