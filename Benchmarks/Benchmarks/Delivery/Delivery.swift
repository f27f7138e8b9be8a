import Benchmark
import Foundation
import ParleyProtocol
@_spi(Benchmarks) import ParleyServer

/// The path of a stored message: the storage writer's group commit, then fan-out to every member's outbox.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .parley

    let text = String(repeating: "x", count: 64)
    let message = ChatMessage(id: 1, nick: "m0", text: text, ts: Timestamp(milliseconds: 1_764_000_000_000), clientID: "c-0123456789abcdef")

    // Only `deliver` is measured; the outboxes are drained after each sample so they stay small. The room keeps
    // its recent messages for `welcome` as a server's does; "without the cache" is the room before issue 21.
    for members in [10, 100, 1000] {
        for recent in [true, false] {
            Benchmark("Room.deliver to \(members) members\(recent ? "" : ", without the cache")") { benchmark, room in
                benchmark.startMeasurement()
                room.deliver(message)
                benchmark.stopMeasurement()
                await room.drain()
            } setup: {
                try await BenchmarkRoom(members: members, recent: recent)
            }
        }
    }

    // A commit's run of 40 messages for one room (about what the closed loop at 100×10 makes), handed to the room
    // at once as the server does since issue 21's thirteenth round, or one by one as before it.
    for members in [10, 100] {
        Benchmark("Room.receive, 40 messages to \(members) members, as one run") { benchmark, room in
            benchmark.startMeasurement()
            room.deliver(run: 40, of: message)
            benchmark.stopMeasurement()
            await room.drain()
        } setup: {
            try await BenchmarkRoom(members: members)
        }
        Benchmark("Room.receive, 40 messages to \(members) members, one by one") { benchmark, room in
            benchmark.startMeasurement()
            for _ in 0..<40 { room.deliver(message) }
            benchmark.stopMeasurement()
            await room.drain()
        } setup: {
            try await BenchmarkRoom(members: members)
        }
    }

    // `deliver` plus what every member's writer loop does to take the frame out of its outbox.
    for members in [100, 1000] {
        Benchmark("Room.deliver + outbox drain, \(members) members") { benchmark, room in
            room.deliver(message)
            blackHole(await room.drain())
        } setup: {
            try await BenchmarkRoom(members: members)
        }
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-benchmark-\(UUID().uuidString)")
    for (batch, clientIDs) in [(1, false), (100, false), (100, true), (1000, false)] {
        let label = clientIDs ? "batch of \(batch) with client_id" : "batch of \(batch)"
        Benchmark("SQLiteMessageStore.commit \(label), file") { (benchmark: Benchmark, store: BenchmarkStore) in
            for _ in benchmark.scaledIterations {
                blackHole(await store.appendBatch(count: batch, text: text, clientIDs: clientIDs))
            }
        } setup: {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("\(batch)-\(clientIDs).sqlite").path
            return try await BenchmarkStore(location: .sqliteFile(path), rooms: 10)
        } teardown: {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    // The search indexer's step when 32 rooms are 10 messages behind each (a fixed 5,000 messages/s into 100 rooms
    // leaves about that much in each between steps); the messages are committed outside the measurement.
    let words = "the quick brown fox jumps over a lazy dog near seven rivers"
    Benchmark("SQLiteSearchIndex step, 10 messages in each of 32 rooms, file") { (benchmark: Benchmark, store: BenchmarkStore) in
        await store.appendBatch(count: 320, text: words)
        benchmark.startMeasurement()
        blackHole(try await store.indexStep())
        benchmark.stopMeasurement()
    } setup: {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try await BenchmarkStore(location: .sqliteFile(directory.appendingPathComponent("index.sqlite").path), rooms: 32)
    } teardown: {
        try? FileManager.default.removeItem(at: directory)
    }

    Benchmark("SQLiteMessageStore.commit batch of 1000, memory") { benchmark, store in
        for _ in benchmark.scaledIterations {
            blackHole(await store.appendBatch(count: 1000, text: text))
        }
    } setup: {
        try await BenchmarkStore(location: .sqliteMemory, rooms: 10)
    }
}
