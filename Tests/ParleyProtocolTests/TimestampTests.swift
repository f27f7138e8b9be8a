import ParleyProtocol
import Testing

/// Timestamps on the wire.
@Suite struct TimestampTests {
    @Test func timestampsAreRFC3339WithMilliseconds() throws {
        let ts = Timestamp(milliseconds: 1_795_341_600_123)
        #expect(ts.description == "2026-11-22T10:00:00.123Z")
        #expect(Timestamp("2026-11-22T10:00:00.123Z") == ts)
        #expect(Timestamp("2026-11-22 10:00:00Z") == nil)
    }
}
