import Foundation
import ParleyProtocol
import Testing

/// The limits of the contract (§5, §6, §7, §8 v2) as the server and the clients share them.
@Suite struct LimitsTests {
    @Test func historyPagesAreOneToTwoHundredDefaultFifty() throws {
        #expect(try Limits.historyPageSize(nil) == 50)
        #expect(try Limits.historyPageSize(1) == 1)
        #expect(try Limits.historyPageSize(200) == 200)
        for refused in [0, -1, 201] {
            #expect(throws: ProtocolError(.badRequest, "limit must be 1-200")) { try Limits.historyPageSize(refused) }
        }
        #expect(Limits.resumedHistoryMessages == 1000)
    }

    @Test func defaultsAreTheContractsAndEncodeWithItsKeys() throws {
        let limits = Limits()
        #expect(limits == Limits(maxMessageBytes: 4096, maxFileBytes: 10 * 1024 * 1024, rateBurst: 20, ratePerSecond: 5))
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(limits)) as? [String: Any])
        #expect(Set(object.keys) == ["max_message_bytes", "max_file_bytes", "rate_burst", "rate_per_second"])
        #expect(Limits.defaultMaxFrameBytes == 65536)
        #expect(Limits.unfinishedSocketsPerAddress == 64)
    }
}
