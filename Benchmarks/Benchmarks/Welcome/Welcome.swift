import Benchmark
import Foundation
import NIOCore
@_spi(Benchmarks) import ParleyServer

/// The history part of a `welcome` for a member joining a live room: read from SQLite and encoded (every
/// joiner before issue 21), or taken from the room's cache of encoded recent messages.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .parley

    let text = String(repeating: "x", count: 64)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-benchmark-\(UUID().uuidString)")
    // A plain join (the newest 50 of 200) and a resume that missed 5 of them.
    for (label, since) in [("newest 50", nil), ("resume, 5 missed", 195)] as [(String, Int64?)] {
        Benchmark("Welcome \(label), read from SQLite") { (benchmark: Benchmark, room: BenchmarkWelcome) in
            for _ in benchmark.scaledIterations { blackHole(try await room.fromStorage(since: since)) }
        } setup: {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("welcome-\(since ?? 0).sqlite").path
            return try await BenchmarkWelcome(location: .sqliteFile(path), messages: 200, text: text)
        } teardown: {
            try? FileManager.default.removeItem(at: directory)
        }

        Benchmark("Welcome \(label), from the room's cache") { (benchmark: Benchmark, room: BenchmarkWelcome) in
            for _ in benchmark.scaledIterations { blackHole(room.fromCache(since: since)) }
        } setup: {
            try await BenchmarkWelcome(location: .sqliteMemory, messages: 200, text: text)
        }
    }

    connectingBenchmarks()
}
