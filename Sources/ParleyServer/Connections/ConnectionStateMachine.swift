import DequeModule
import NIOCore
import ParleyProtocol

/// The life of one WebSocket after the upgrade, as a value: commands in order, reading paused and resumed,
/// pings answered, the heartbeat and idle close, the write timeout and the close handshake.
///
/// It lives on the socket's event loop. ``ChatSocketHandler`` and ``OutboxWriter`` feed it what happened and
/// carry out the ``Action`` it returns; it never reads the clock: ``tick(now:pendingBytes:)`` hands it the
/// time, so every rule is tested without sockets. Inputs between ticks only set flags (a frame was heard,
/// the socket took bytes), which the next tick turns into times: no clock read per frame.
///
/// The ``Outbox`` stays apart: rooms fill it from any thread, and its own phase decides what is queued. This
/// machine learns of its decisions when the writer takes them (``closeTaken(code:reason:)``).
struct ConnectionStateMachine {
    private enum Phase {
        /// `welcome` is not queued yet: commands wait.
        case joining
        case serving
        /// The client is done sending (a close frame with this code, or a shut TCP side): commands already
        /// received still run, then the server answers and closes.
        case ending(code: UInt16)
        /// Nothing more is run: the join was refused, or the client's close is being answered.
        case done
    }

    let timeouts: Timeouts
    // Word-sized fields first, then the flags: an idle member keeps one of these for as long as it stays.
    private var held: Deque<String> = []
    private var lastHeard: NIODeadline
    private var nextBeat: NIODeadline
    /// When the client's time to answer our close ends; `distantFuture` until our close reached the socket.
    private var closeDeadline = NIODeadline.distantFuture
    /// Since when the bytes waiting in the socket have not gone down; `distantFuture` while nothing waits.
    private var stalledSince = NIODeadline.distantFuture
    /// The bytes that waited at the last tick.
    private var stalledPending = 0
    private var handedSinceTick = 0
    /// When the connection's identity token expires (§13); `distantFuture` without one.
    private let expires: NIODeadline
    /// Pongs in the outbox that the writer has not taken yet.
    private var pongsWaiting: UInt16 = 0
    private var phase = Phase.joining
    /// A command is waiting for storage.
    private(set) var busy = false
    private(set) var reading = false
    /// A frame arrived since the last tick.
    private var heard = false
    private(set) var writable = true
    /// A close of ours is decided: no more commands run and no pings are sent or answered.
    private(set) var closing = false
    /// Our close frame is written (the handshake is then the client's to finish).
    private(set) var closeSent = false
    /// Our close frame has reached the socket; the client has `timeouts.close` from the next tick to answer.
    private var closeReached = false
    /// The client's close came first: ours is the answer, and the socket closes once it is written.
    private var peerClosed = false
    /// A close waits behind frames the client is not reading: it gets `timeouts.close`, not `timeouts.write`.
    private var hurried = false
    /// Bytes were handed to the socket since it was last seen empty.
    private(set) var watchesWrites = false
    /// The socket became writable again since the last tick.
    private var progressed = false
    private(set) var dropped = false

    init(timeouts: Timeouts, now: NIODeadline, expires: NIODeadline = .distantFuture) {
        self.timeouts = timeouts
        self.expires = expires
        self.lastHeard = now
        self.nextBeat = now + timeouts.ping
    }

    // MARK: joining and commands

    /// `welcome` is queued: held commands run, then the socket is read.
    mutating func joined() -> Action {
        if case .joining = phase { phase = .serving }
        return nextStep()
    }

    /// The join failed and a close is on its way: only the client's answer to it is still read.
    mutating func joinRefused() -> Action {
        phase = .done
        return setReading(true)
    }

    /// A text frame. `outboxOpen` is false once the outbox decided to close (a room cut the member off): a
    /// command run now could be stored but never acknowledged.
    mutating func textReceived(_ text: String, outboxOpen: Bool) -> Action {
        heard = true
        switch phase {
        case .joining, .serving:
            guard outboxOpen, !closing else { return .none }
            held.append(text)
            return nextStep()
        case .ending, .done:
            return .none
        }
    }

    /// The command handed over by ``Action/run(_:)`` finished on the spot.
    mutating func commandFinished() -> Action {
        busy = false
        return nextStep()
    }

    /// The command handed over by ``Action/run(_:)`` waits for storage; ``commandFinished()`` follows.
    mutating func commandWaiting() -> Action {
        nextStep()
    }

    /// Runs held commands in order until one has to wait; reads again once none is held. A client that is done
    /// sending is answered once the last of its commands has run.
    private mutating func nextStep() -> Action {
        switch phase {
        case .joining, .done:
            return .none
        case .serving, .ending:
            break
        }
        if busy { return setReading(false) }
        // Once our close is decided, what the client sent before it is not run either: it could be stored
        // but never acknowledged.
        if closing { held.removeAll() }
        if let text = held.popFirst() {
            busy = true
            return .run(text)
        }
        switch phase {
        case .serving:
            return setReading(true)
        case .ending(let code):
            phase = .done
            peerClosed = true
            reading = false
            return .answerClose(code: code)
        case .joining, .done:
            return .none
        }
    }

    private mutating func setReading(_ on: Bool) -> Action {
        guard on != reading else { return .none }
        reading = on
        // Silence while the server was not reading is not the client's.
        if on { heard = true }
        return on ? .resumeReading : .pauseReading
    }

    // MARK: frames from the client

    /// A frame the protocol refuses (binary, bad UTF-8, too large): close with `code`.
    mutating func frameRefused(code: UInt16, reason: String) -> Action {
        heard = true
        guard !closing, !dropped else { return .none }
        closing = true
        return .close(code: code, reason: reason)
    }

    /// Pongs that may wait in the outbox until the writer next runs. One read of a socket can hold tens of
    /// thousands of empty pings; their pongs count almost nothing against the outbound limit, but each is a
    /// buffer and a queue entry until the writer takes them.
    static let maxPongsWaiting: UInt16 = 1024

    /// A ping is answered through the outbox, so what a pong costs counts against the outbound limit. While
    /// frames wait for the socket it is not answered: a client that sends pings and reads nothing is owed
    /// nothing more than it already has. Nor is it once ``maxPongsWaiting`` pongs wait for the writer
    /// (RFC 6455 §5.5.3 lets a pong answer only the latest of several pings).
    mutating func pingReceived(payload: ByteBuffer) -> Action {
        heard = true
        switch phase {
        case .joining, .serving:
            guard writable, pongsWaiting < Self.maxPongsWaiting, !closing, !closeSent else { return .none }
            pongsWaiting += 1
            return .answerPing(payload)
        case .ending, .done:
            return .none
        }
    }

    /// A pong, or any other frame that only shows the client is alive.
    mutating func frameHeard() {
        heard = true
    }

    /// The client's close frame, with the code to answer it with.
    mutating func closeReceived(code: UInt16) -> Action {
        heard = true
        if closeSent {
            // The answer to our close: the handshake is complete.
            return drop()
        }
        return clientEnded(code: code)
    }

    /// The client shut its side of the TCP connection without a close frame.
    mutating func inputClosed() -> Action {
        clientEnded(code: CloseCode.normalClosure.rawValue)
    }

    private mutating func clientEnded(code: UInt16) -> Action {
        switch phase {
        case .joining, .serving:
            phase = .ending(code: code)
            if busy {
                // Its last command finishes first; then it is answered.
                return setReading(false)
            }
            return nextStep()
        case .ending, .done:
            // Already closing; a refused join has nothing left to run.
            return drop()
        }
    }

    // MARK: writing

    /// NIO's write buffer crossed a water mark.
    mutating func writabilityChanged(writable: Bool) -> Action {
        self.writable = writable
        guard writable, !dropped else { return .none }
        progressed = true
        return .writeOutbox
    }

    /// The writer handed `bytes` to the socket.
    mutating func handed(bytes: Int) {
        watchesWrites = true
        handedSinceTick += bytes
        // The writer takes everything queued at once, pongs included.
        pongsWaiting = 0
    }

    /// The writer took a decision to close from the outbox (a room's overflow, a drain, or a close of ours).
    mutating func closeTaken(code: UInt16, reason: String) -> Action {
        guard !closeSent, !dropped else { return .none }
        closing = true
        closeSent = true
        return .writeClose(code: code, reason: reason)
    }

    /// Our close frame has been handed to the kernel.
    mutating func closeWritten() -> Action {
        guard !dropped else { return .none }
        if peerClosed { return drop() }
        closeReached = true
        return .none
    }

    /// The outbox is to close after frames that wait while the socket takes nothing (the client sent its own
    /// close, or the server is shutting down): the client has the close timeout to read them, not the write
    /// timeout.
    mutating func closeWaitsBehindFrames() {
        hurried = true
    }

    // MARK: time

    /// Called about once a second with the time and the bytes waiting in the socket (0 unless
    /// ``watchesWrites``): the write timeout, the close handshake's deadline, the heartbeat and the idle close.
    mutating func tick(now: NIODeadline, pendingBytes: Int) -> Action {
        guard !dropped else { return .none }
        if heard {
            lastHeard = now
            heard = false
        }
        if watchesWrites, stalled(now: now, pendingBytes: pendingBytes) { return drop() }
        if closeReached, closeDeadline == .distantFuture { closeDeadline = now + timeouts.close }
        if now >= closeDeadline { return drop() }
        // Checked on every tick, not only on beats: silence is measured from the client's last frame.
        if case .serving = phase, !closing, reading, now - lastHeard >= timeouts.idle {
            closing = true
            return .close(code: CloseCode.goingAway.rawValue, reason: "idle timeout")
        }
        // A held command still runs first: what the token allowed before `exp` is not lost.
        if case .serving = phase, !closing, now >= expires {
            closing = true
            return .close(code: CloseCode.tokenExpired.rawValue, reason: "token expired")
        }
        guard now >= nextBeat else { return .none }
        nextBeat = now + timeouts.ping
        guard case .serving = phase, !closing else { return .none }
        // A socket that takes nothing needs no ping to be found out: the write timeout deals with it.
        return writable ? .ping : .none
    }

    /// Whether the socket has taken no bytes for longer than it may while bytes wait in it.
    private mutating func stalled(now: NIODeadline, pendingBytes: Int) -> Bool {
        defer {
            handedSinceTick = 0
            progressed = false
        }
        guard pendingBytes > 0 else {
            watchesWrites = false
            stalledSince = .distantFuture
            return false
        }
        // Bytes left the socket if less waits than before plus what was handed since.
        let tookBytes = progressed || pendingBytes < stalledPending + handedSinceTick
        stalledPending = pendingBytes
        guard stalledSince != .distantFuture, !tookBytes else {
            stalledSince = now
            return false
        }
        let limit = hurried || peerClosed ? min(timeouts.close, timeouts.write) : timeouts.write
        return now - stalledSince >= limit
    }

    private mutating func drop() -> Action {
        guard !dropped else { return .none }
        dropped = true
        closing = true
        return .drop
    }
}
