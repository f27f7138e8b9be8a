import Testing

@testable import ParleyServer

/// Connections per client address and in total, and none while draining (contract §6).
@Suite struct ConnectionLimiterTests {
    let a = ClientAddress(IPAddress("192.0.2.1"))
    let b = ClientAddress(IPAddress("192.0.2.2"))
    let c = ClientAddress(IPAddress("192.0.2.3"))
    let d = ClientAddress(IPAddress("192.0.2.4"))

    @Test func limitsPerAddressInTotalAndWhileDraining() throws {
        let limiter = ConnectionLimiter(maxTotal: 3, maxPerAddress: 2)
        let first = try limiter.reserve(address: a)
        var held = [try limiter.reserve(address: a)]
        #expect(throws: ConnectionLimiter.Refusal.perAddress) { try limiter.reserve(address: a) }
        held.append(try limiter.reserve(address: b))
        try withExtendedLifetime(held) {
            #expect(throws: ConnectionLimiter.Refusal.total) { try limiter.reserve(address: c) }
            // A slot is given back once, however often it is released: one place is free, not two.
            first.release()
            first.release()
            let next = try limiter.reserve(address: c)
            #expect(throws: ConnectionLimiter.Refusal.total) { try limiter.reserve(address: d) }
            next.release()
            limiter.startDraining()
            #expect(throws: ConnectionLimiter.Refusal.shuttingDown) { try limiter.check(address: c) }
        }
        #expect(Admission.refusal(.shuttingDown).status == .serviceUnavailable)
        #expect(Admission.refusal(.perAddress).status == .tooManyRequests)
    }

    @Test func aSlotNobodyReleasedIsGivenBackWhenItIsDropped() throws {
        let limiter = ConnectionLimiter(maxTotal: 1, maxPerAddress: 1)
        // An upgrade that never completed: its slot is dropped without a release.
        _ = try limiter.reserve(address: a)
        let held = try limiter.reserve(address: a)
        withExtendedLifetime(held) {
            #expect(throws: ConnectionLimiter.Refusal.total) { try limiter.reserve(address: b) }
            return
        }
    }
}
