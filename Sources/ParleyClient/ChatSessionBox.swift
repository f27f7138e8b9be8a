import ParleyProtocol
import Synchronization

/// The session state shared by the input task and the current connection, behind a lock, together with the
/// current connection's writer. Transitions and the writes they cause happen under one lock, so frames keep
/// the order in which lines were typed.
final class ChatSessionBox: Sendable {
    /// An item for a connection's writer.
    enum Outgoing: Sendable {
        case frame(String)
        case frameAfterPause(String)
        /// Pace what follows under these limits (from `welcome`).
        case pace(Limits)
        case close
    }

    private struct Guarded: ~Copyable {
        var state: ChatSessionState
        var writer: AsyncStream<Outgoing>.Continuation?
    }

    private let guarded: Mutex<Guarded>

    init(state: ChatSessionState) {
        guarded = Mutex(Guarded(state: state, writer: nil))
    }

    /// Reads the state.
    func withState<Value: Sendable>(_ body: (ChatSessionState) -> Value) -> Value {
        guarded.withLock { body($0.state) }
    }

    /// Applies a user input; returns what to show.
    func input(_ input: ChatInput) -> [ChatOutput] {
        guarded.withLock { guarded in
            let action = guarded.state.command(input)
            Self.write(action, to: guarded.writer)
            return action.outputs
        }
    }

    /// Ends input; returns what to show and whether the session can stop at once (nothing waiting, not connected).
    func finishInput() -> (outputs: [ChatOutput], stopNow: Bool) {
        guarded.withLock { guarded in
            let action = guarded.state.finishInput()
            Self.write(action, to: guarded.writer)
            return (action.outputs, guarded.state.isSettled && !guarded.state.isConnected)
        }
    }

    /// Applies a server event on the connection whose writer is `writer`; a `welcome` makes it the current one.
    func receive(_ event: ServerEvent, writer: AsyncStream<Outgoing>.Continuation) -> [ChatOutput] {
        guarded.withLock { guarded in
            if case .welcome(let welcome) = event {
                guarded.writer = writer
                if let limits = welcome.limits { writer.yield(.pace(limits)) }
            }
            let action = guarded.state.receive(event)
            Self.write(action, to: guarded.writer)
            return action.outputs
        }
    }

    /// The connection ended. Returns whether it had been welcomed.
    func disconnected() -> Bool {
        guarded.withLock { guarded in
            let wasConnected = guarded.state.isConnected
            guarded.writer?.finish()
            guarded.writer = nil
            guarded.state.disconnected()
            return wasConnected
        }
    }

    private static func write(_ action: ChatSessionState.Action, to writer: AsyncStream<Outgoing>.Continuation?) {
        guard let writer else { return }
        for frame in action.frames { writer.yield(.frame(frame)) }
        if let frame = action.resendLater { writer.yield(.frameAfterPause(frame)) }
        if action.close { writer.yield(.close) }
    }
}
