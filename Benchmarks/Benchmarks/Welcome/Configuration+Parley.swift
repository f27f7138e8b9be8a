import Benchmark

extension Benchmark.Configuration {
    /// Time, throughput, allocations and (where the kernel allows perf events) instructions; each benchmark
    /// runs for at most 2 s after a short warm-up.
    static var parley: Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
            warmupIterations: 10,
            maxDuration: .seconds(2),
            maxIterations: 100_000
        )
    }
}
