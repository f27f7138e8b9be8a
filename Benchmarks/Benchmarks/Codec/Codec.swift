import Benchmark
import ParleyProtocol
@_spi(Benchmarks) import ParleyServer

/// Decoding what clients send and encoding what the server sends: once per frame received, once per event.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .parley
    // One sample is a thousand calls: a single call is too short to time on its own.
    Benchmark.defaultConfiguration.scalingFactor = .kilo

    let text = String(repeating: "x", count: 64)
    let rawFrame = text
    let jsonFrame = #"{"type":"message","text":"\#(text)","client_id":"c-0123456789abcdef"}"#

    Benchmark("ClientCommand.parse raw text (64 B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? ClientCommand.parse(frame: rawFrame))
        }
    }

    Benchmark("ClientCommand.parse JSON message (64 B text)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? ClientCommand.parse(frame: jsonFrame))
        }
    }

    let message = ChatMessage(id: 123_456, nick: "r1m2", text: text, ts: Timestamp(milliseconds: 1_764_000_000_000), clientID: "c-0123456789abcdef")
    Benchmark("EventEncoder.encode message (64 B text)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(BenchmarkHooks.encode(.message(message)))
        }
    }

    let history = (0..<50).map { ChatMessage(id: Int64($0 + 1), nick: "r1m\($0 % 10)", text: text, ts: message.ts) }
    let welcome = ServerEvent.Welcome(
        room: RoomInfo(code: "bench", name: nil, createdAt: message.ts),
        nick: "r1m0",
        session: String(repeating: "s", count: 43),
        members: (0..<10).map { "r1m\($0)" },
        history: history,
        lastID: 50,
        truncated: false
    )
    Benchmark("EventEncoder.encode welcome (50 messages of history)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(BenchmarkHooks.encode(.welcome(welcome)))
        }
    }

    // Every connect request names a nick: the usual one is plain ASCII, the other needs Unicode normalization.
    for (label, nick) in [("ASCII", "member-1234"), ("non-ASCII", "Zoë Ångström")] {
        Benchmark("Nick.normalize \(label) (\(nick))") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try? Nick.normalize(nick))
            }
        }
    }
}
