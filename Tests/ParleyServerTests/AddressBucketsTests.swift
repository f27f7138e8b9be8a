import Testing

@testable import ParleyServer

/// The HTTP rate limit's token buckets per client address, driven with a fake clock.
@Suite struct AddressBucketsTests {
    let start = ContinuousClock.now
    let alice = ClientAddress(IPAddress("192.0.2.1"))
    let bob = ClientAddress(IPAddress("192.0.2.2"))

    @Test func burstThenRateWithRetryAfter() {
        var buckets = AddressBuckets(burst: 3, perSecond: 2, capacity: 10, now: start)
        for _ in 0..<3 { #expect(buckets.take(alice, now: start) == .allow) }
        #expect(buckets.take(alice, now: start) == .refuse(retryAfter: .milliseconds(500)))
        // Another address has its own bucket.
        #expect(buckets.take(bob, now: start) == .allow)
        #expect(buckets.take(alice, now: start + .milliseconds(250)) == .refuse(retryAfter: .milliseconds(250)))
        #expect(buckets.take(alice, now: start + .milliseconds(500)) == .allow)
        // Refills up to the burst, not beyond.
        let later = start + .seconds(60)
        for _ in 0..<3 { #expect(buckets.take(alice, now: later) == .allow) }
        #expect(buckets.take(alice, now: later) != .allow)
    }

    @Test func zeroPerSecondAllowsEverythingAndRemembersNothing() {
        var buckets = AddressBuckets(burst: 1, perSecond: 0, capacity: 10, now: start)
        for _ in 0..<100 { #expect(buckets.take(alice, now: start) == .allow) }
        #expect(buckets.count == 0)
    }

    @Test func rotatingAddressesCannotGrowTheTable() {
        var buckets = AddressBuckets(burst: 2, perSecond: 1, capacity: 4, now: start)
        var allowed = 0
        for n in 0..<1000 where buckets.take(ClientAddress(IPAddress(.v4(UInt32(n)))), now: start) == .allow {
            allowed += 1
        }
        #expect(buckets.count == 4)
        // One token for each of the four remembered, then one shared overflow burst for every newcomer.
        #expect(allowed == 4 + 2)
        // Once the remembered buckets have filled up again, they are forgotten and newcomers get their own.
        let later = start + .seconds(2)
        #expect(buckets.take(alice, now: later) == .allow)
        #expect(buckets.count == 1)
    }

    @Test func aFullTableIsSweptAtMostOncePerInterval() {
        var buckets = AddressBuckets(burst: 2, perSecond: 1, capacity: 2, now: start)
        _ = buckets.take(alice, now: start)
        _ = buckets.take(bob, now: start)
        let carol = ClientAddress(IPAddress("192.0.2.3"))
        // Alice and Bob are one token short; the sweep at 1 s finds them full and forgets them.
        #expect(buckets.take(carol, now: start + .milliseconds(500)) == .allow)
        #expect(buckets.count == 2)
        #expect(buckets.take(carol, now: start + .seconds(1)) == .allow)
        #expect(buckets.count == 1)
    }
}
