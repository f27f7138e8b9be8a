import DequeModule
import Synchronization

/// Session secrets handed out in `welcome`: secret → (room, current nick).
///
/// Kept in memory only (the contract lets secrets die with the process) and bounded: past `capacity`
/// the oldest secrets are forgotten, so a reconnect with one simply joins as a new member.
final class SessionTable: Sendable {
    struct Binding: Equatable {
        var roomCode: String
        var nick: String
    }

    private struct State {
        var bindings: [SessionSecret: Binding] = [:]
        var order: Deque<SessionSecret> = []
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    /// The binding of `secret` if it belongs to `roomCode`; foreign and unknown secrets give nil.
    func lookup(_ secret: SessionSecret, roomCode: String) -> Binding? {
        state.withLock { state in
            guard let binding = state.bindings[secret], binding.roomCode == roomCode else { return nil }
            return binding
        }
    }

    /// Binds (or rebinds) `secret` to a room and nick.
    func bind(_ secret: SessionSecret, roomCode: String, nick: String) {
        state.withLock { state in
            if state.bindings.updateValue(Binding(roomCode: roomCode, nick: nick), forKey: secret) == nil {
                state.order.append(secret)
                while state.order.count > capacity, let oldest = state.order.popFirst() {
                    state.bindings.removeValue(forKey: oldest)
                }
            }
        }
    }
}
