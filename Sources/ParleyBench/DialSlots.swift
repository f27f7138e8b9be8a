/// Which source address the next dial uses, so that none has more than `limit` dials unfinished: a server
/// closes at once a socket over its bound of unfinished ones per client address. A value type with no I/O.
public struct DialSlots: Sendable, Equatable {
    public let limit: Int
    /// Dials unfinished per source address.
    public private(set) var inFlight: [Int]

    public init(addresses: Int, limit: Int) {
        precondition(addresses >= 1 && limit >= 1, "at least one address and one slot")
        self.limit = limit
        inFlight = Array(repeating: 0, count: addresses)
    }

    /// The least busy address with a free slot, now taken; `nil` when every address is full.
    public mutating func take() -> Int? {
        guard let address = inFlight.indices.min(by: { inFlight[$0] < inFlight[$1] }), inFlight[address] < limit else { return nil }
        inFlight[address] += 1
        return address
    }

    /// A dial from `address` finished (got its `welcome` or gave up).
    public mutating func free(_ address: Int) {
        guard inFlight.indices.contains(address), inFlight[address] > 0 else { return }
        inFlight[address] -= 1
    }
}
