import Synchronization

/// Counts open WebSockets in total and per client address, refusing past the limits.
final class ConnectionLimiter: Sendable {
    enum Refusal: Error {
        case total
        case perAddress
        case shuttingDown
    }

    private struct State {
        var total = 0
        var byAddress: [ClientAddress: Int] = [:]
        var draining = false

        func check(address: ClientAddress, maxTotal: Int, maxPerAddress: Int) throws(Refusal) {
            if draining { throw .shuttingDown }
            if total >= maxTotal { throw .total }
            if byAddress[address, default: 0] >= maxPerAddress { throw .perAddress }
        }
    }

    private let state = Mutex(State())
    let maxTotal: Int
    let maxPerAddress: Int

    init(maxTotal: Int, maxPerAddress: Int) {
        self.maxTotal = maxTotal
        self.maxPerAddress = maxPerAddress
    }

    /// Reserves a slot for `address`, held until the slot is released (or dropped).
    func reserve(address: ClientAddress) throws(Refusal) -> ConnectionSlot {
        try state.withLock { (state) throws(Refusal) in
            try state.check(address: address, maxTotal: maxTotal, maxPerAddress: maxPerAddress)
            state.total += 1
            state.byAddress[address, default: 0] += 1
        }
        return ConnectionSlot(limiter: self, address: address)
    }

    /// Throws what ``reserve(address:)`` would, without reserving.
    func check(address: ClientAddress) throws(Refusal) {
        try state.withLock { (state) throws(Refusal) in
            try state.check(address: address, maxTotal: maxTotal, maxPerAddress: maxPerAddress)
        }
    }

    /// Gives a slot back; called by ``ConnectionSlot`` only.
    func release(address: ClientAddress) {
        state.withLock { state in
            state.total -= 1
            let remaining = state.byAddress[address, default: 1] - 1
            state.byAddress[address] = remaining > 0 ? remaining : nil
        }
    }

    /// Refuses every new connection from now on (graceful shutdown).
    func startDraining() {
        state.withLock { $0.draining = true }
    }
}
