import Testing
@_spi(Benchmarks) @testable import ParleyServer

@Suite struct BenchmarkUpgradeTests {
    /// Both ways of the upgrade's micro benchmark answer the same head with a `101` of the same length.
    @Test(.timeLimit(.minutes(1))) func bothWaysUpgrade() throws {
        let nio = try BenchmarkUpgrade.throughNIO(BenchmarkUpgrade.browserHead)
        let inPlace = try BenchmarkUpgrade.inPlace(BenchmarkUpgrade.browserHead)
        #expect(nio > 100 && nio == inPlace)
    }
}
