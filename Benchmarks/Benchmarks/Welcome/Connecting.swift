import Benchmark
import Foundation
@_spi(Benchmarks) import ParleyServer

/// What a storm of connects costs before any `welcome`: after a restart, every member of a room taking its
/// saved session, and many rooms opened in storage at once (new codes, or codes a previous run stored).
func connectingBenchmarks() {
    // The upgrade of one socket, on an embedded channel: NIO's HTTP codec and upgrader against the in-place scan.
    let head = BenchmarkUpgrade.browserHead
    Benchmark("Upgrade of a browser's request, NIO's HTTP pipeline") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try BenchmarkUpgrade.throughNIO(head)) }
    }
    Benchmark("Upgrade of a browser's request, WebSocketHandshake") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try BenchmarkUpgrade.inPlace(head)) }
    }

    // Frames as a client sends them, read as an upgraded socket reads them: NIO's generic decoder handler
    // against Parley's reader around the same decoder.
    for count in [1, 16] {
        let frames = BenchmarkUpgrade.clientFrames(count: count)
        Benchmark("Reading \(count) frame(s), ByteToMessageHandler") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try BenchmarkUpgrade.readFrames(frames, withReader: false)) }
        }
        Benchmark("Reading \(count) frame(s), FrameReader") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try BenchmarkUpgrade.readFrames(frames, withReader: true)) }
        }
    }

    // One sample is a whole storm, far longer than a single call: few warm-up rounds.
    let storm = Benchmark.Configuration(
        metrics: Benchmark.defaultConfiguration.metrics,
        warmupIterations: 1,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    Benchmark("SavedSessions.take, 10,000 members back", configuration: storm) { benchmark in
        for _ in benchmark.scaledIterations {
            // A room's table read afresh for each sample, outside the measurement.
            let sessions = await BenchmarkSavedSessions(count: 10_000)
            benchmark.startMeasurement()
            blackHole(sessions.takeAll())
            benchmark.stopMeasurement()
            withExtendedLifetime(sessions) {}
        }
    }

    // A storm's presence: each member of a full room waits for a few dozen `join` frames at a time.
    Benchmark("Room.join, 32 newcomers into 100 waiting members, then their drains", configuration: storm) { benchmark in
        let room = try BenchmarkPresence(members: 100)
        room.burst(32)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(room.burst(32)) }
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-benchmark-\(UUID().uuidString)")
    let rooms = 1_000
    let concurrency = 64

    // New codes, each open in a task of its own (as a socket's task opened its room) or answered by a completion
    // on the writer thread (as an upgrade asks now).
    typealias Opening = @Sendable (BenchmarkRoomOpening, [String]) async throws -> Int
    let newCodes: [(name: String, file: String, open: Opening)] = [
        ("SQLiteMessageStore.openRoom, 1,000 new codes, 64 at a time", "new", { try await $0.open($1, concurrency: concurrency) }),
        (
            "SQLiteMessageStore.openRoom with a completion, 1,000 new codes, 64 at a time", "answered",
            { try await $0.openAnswered($1, concurrency: concurrency) }
        ),
    ]
    for (name, file, open) in newCodes {
        Benchmark(name, configuration: storm) { (benchmark: Benchmark, store: BenchmarkRoomOpening) in
            for _ in benchmark.scaledIterations {
                let round = UUID().uuidString
                let codes = (0..<rooms).map { "\(file)-\(round)-\($0)" }
                benchmark.startMeasurement()
                blackHole(try await open(store, codes))
                benchmark.stopMeasurement()
            }
        } setup: {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try BenchmarkRoomOpening(location: .sqliteFile(directory.appendingPathComponent("\(file).sqlite").path))
        } teardown: {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    // The storm after a restart: every code is in storage already.
    let stored = (0..<rooms).map { "room-\($0)" }
    Benchmark("SQLiteMessageStore.openRoom, 1,000 stored codes, 64 at a time", configuration: storm) {
        (benchmark: Benchmark, store: BenchmarkRoomOpening) in
        for _ in benchmark.scaledIterations {
            blackHole(try await store.open(stored, concurrency: concurrency))
        }
    } setup: {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try BenchmarkRoomOpening(location: .sqliteFile(directory.appendingPathComponent("stored.sqlite").path))
        try await store.open(stored, concurrency: concurrency)
        return store
    } teardown: {
        try? FileManager.default.removeItem(at: directory)
    }
}
