import ParleyBench
import Testing

/// The storm's dial slots: no source address ever has more than its limit of unfinished dials.
@Suite struct DialSlotsTests {
    @Test func dialsGoToTheLeastBusyAddressUpToTheLimit() {
        var slots = DialSlots(addresses: 3, limit: 2)
        let taken = (0..<6).map { _ in slots.take() }
        #expect(taken == [0, 1, 2, 0, 1, 2])
        #expect(slots.take() == nil)
        slots.free(1)
        #expect(slots.take() == 1)
        #expect(slots.take() == nil)
        #expect(slots.inFlight == [2, 2, 2])
    }

    @Test func oneAddressIsAPlainBound() {
        var slots = DialSlots(addresses: 1, limit: 64)
        for _ in 0..<64 { #expect(slots.take() == 0) }
        #expect(slots.take() == nil)
        slots.free(0)
        #expect(slots.take() == 0)
    }

    @Test func freeingWhatWasNotTakenChangesNothing() {
        var slots = DialSlots(addresses: 2, limit: 1)
        slots.free(0)
        slots.free(5)
        #expect(slots.inFlight == [0, 0])
        #expect(slots.take() == 0 && slots.take() == 1 && slots.take() == nil)
    }
}
