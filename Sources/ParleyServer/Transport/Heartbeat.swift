import NIOCore

/// Hands the time to the sockets of one server on one event loop from a single timer, instead of a timer
/// per socket, which would cost every idle member a scheduled task and its futures (docs/ARCHITECTURE.md,
/// "Memory per connection").
///
/// Every socket's ``ConnectionStateMachine`` keeps its own due times (its next ping one `tick` after it was
/// added, then every `tick`, so pings stay as spread out as the joins were; its write and close deadlines);
/// the timer hands each socket the time at least once a second. It runs while the loop has sockets and
/// stops with the last one.
final class Heartbeat: Sendable {
    let eventLoop: any EventLoop
    /// The ping interval; the sweep runs at least this often, and at least once a second.
    let tick: TimeAmount
    private let sweepInterval: TimeAmount
    private let state: NIOLoopBoundBox<State>

    private struct State {
        var sockets: [ChatSocketHandler] = []
        var timer: RepeatedTask?
    }

    init(eventLoop: any EventLoop, tick: TimeAmount) {
        self.eventLoop = eventLoop
        self.tick = tick
        self.sweepInterval = min(tick, .seconds(1))
        self.state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// Starts handing `socket` the time. Called on the event loop.
    func add(_ socket: ChatSocketHandler) {
        guard socket.heartbeatSlot == nil else { return }
        socket.heartbeatSlot = state.value.sockets.count
        state.value.sockets.append(socket)
        if state.value.timer == nil {
            state.value.timer = eventLoop.scheduleRepeatedTask(initialDelay: sweepInterval, delay: sweepInterval) { [self] _ in
                sweep()
            }
        }
    }

    /// Stops handing `socket` the time. Called on the event loop.
    func remove(_ socket: ChatSocketHandler) {
        guard let slot = socket.heartbeatSlot else { return }
        socket.heartbeatSlot = nil
        let last = state.value.sockets.removeLast()
        if slot < state.value.sockets.count {
            state.value.sockets[slot] = last
            last.heartbeatSlot = slot
        }
        if state.value.sockets.isEmpty {
            state.value.timer?.cancel()
            state.value.timer = nil
        }
    }

    private func sweep() {
        let now = NIODeadline.now()
        // A copy: a tick can close its socket, which removes it from the list.
        for socket in state.value.sockets {
            socket.tick(now: now)
        }
    }
}
