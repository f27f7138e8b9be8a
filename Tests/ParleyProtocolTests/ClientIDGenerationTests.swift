import ParleyProtocol
import Testing

/// Generated `client_id`s (contract §8 v2: at least 96 random bits from a CSPRNG).
@Suite struct ClientIDGenerationTests {
    @Test func idsAreLongRandomAndUnique() throws {
        #expect(ClientID.randomBits >= 96)
        let ids = (0..<10_000).map { _ in ClientID.random() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            #expect(id.utf8.count == ClientID.randomBits / 4)
            #expect(id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
            #expect(try MessageText.validateClientID(id) == id)
        }
        // Every hex digit position takes many values: no fixed prefix, no counter.
        for position in 0..<ClientID.randomBits / 4 {
            let digits = Set(ids.prefix(1000).map { Array($0.utf8)[position] })
            #expect(digits.count >= 12)
        }
    }
}
