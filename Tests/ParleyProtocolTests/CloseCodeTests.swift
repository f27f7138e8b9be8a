import ParleyProtocol
import Testing

/// The close codes are the contract's numbers, written here apart from the type so a wrong constant shows.
@Suite struct CloseCodeTests {
    @Test func closeCodesAreTheContractsNumbers() {
        let codes: [(CloseCode, UInt16)] = [
            (.normalClosure, 1000), (.goingAway, 1001), (.protocolError, 1002), (.unsupportedData, 1003),
            (.invalidFramePayload, 1007), (.policyViolation, 1008), (.messageTooLarge, 1009), (.internalError, 1011),
            (.replaced, 4001), (.kicked, 4003), (.roomDeleted, 4004), (.tokenExpired, 4005),
        ]
        for (code, number) in codes {
            #expect(code.rawValue == number)
            #expect(code.description == String(number))
        }
        #expect(Set(codes.map(\.0)).count == codes.count)
    }
}
