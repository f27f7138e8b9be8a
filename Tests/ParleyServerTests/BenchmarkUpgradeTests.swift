import Testing

@_spi(Benchmarks) @testable import ParleyServer

@Suite struct BenchmarkUpgradeTests {
    /// Both ways of the upgrade's micro benchmark answer the same head with the same `101`: the same fields
    /// with the same values (NIO writes the names capitalised and in another order), the accept value the
    /// key asks for.
    @Test(.timeLimit(.minutes(1))) func bothWaysAnswerWithTheSame101() throws {
        func lines(_ response: String) -> Set<String> {
            Set(response.split(separator: "\r\n").map { $0.lowercased() })
        }
        let nio = try BenchmarkUpgrade.throughNIO(BenchmarkUpgrade.browserHead)
        let inPlace = try BenchmarkUpgrade.inPlace(BenchmarkUpgrade.browserHead)
        #expect(nio.hasPrefix("HTTP/1.1 101 ") && inPlace.hasSuffix("\r\n\r\n"))
        #expect(lines(nio) == lines(inPlace))
        #expect(lines(inPlace).contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="))
    }

    /// Both readers of the frame benchmark read every frame.
    @Test func bothReadersReadEveryFrame() throws {
        let frames = BenchmarkUpgrade.clientFrames(count: 16)
        #expect(try BenchmarkUpgrade.readFrames(frames, withReader: false) == 16)
        #expect(try BenchmarkUpgrade.readFrames(frames, withReader: true) == 16)
    }
}
