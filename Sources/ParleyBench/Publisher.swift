import HummingbirdWSClient

/// One sending member: waits for the start, then sends stamped messages until the measured window ends,
/// paced by its credits (closed loop) or by a fixed schedule (open loop).
struct Publisher: Sendable {
    let context: BenchContext
    let room: Int
    /// Its index among the room's publishers: its messages are the `seq` with `seq % publishers == index`.
    let index: Int
    /// Its index among all publishers, to spread open-loop schedules evenly.
    let globalIndex: Int

    /// Sends until the window ends, the connection fails or the task is cancelled; always merges its result.
    func run(_ outbound: WebSocketOutboundWriter) async {
        var result = PublisherResult()
        defer { context.collect(result) }
        guard let startTime = await context.start.wait() else { return }
        let plan = context.plan
        let clock = context.clock
        let window = context.window
        let perRoom = plan.publishersInRoom
        var next = 0
        do {
            try await Task.sleep(until: clock.instant(startTime), clock: .continuous)
            switch plan.load {
            case .window:
                let inFlight = context.windows[room]
                for await _ in inFlight.creditStreams[index] {
                    let now = clock.now()
                    guard now < window.end else { break }
                    let seq = next * perRoom + index
                    next += 1
                    inFlight.sending(seq: seq, at: now)
                    try await send(seq: seq, at: now, to: outbound, window: window, result: &result)
                }
            case .rate(let rate):
                let interval = Double(plan.totalPublishers) / rate * 1e9
                var due = Double(startTime) + interval * Double(globalIndex) / Double(plan.totalPublishers)
                while Int64(due) < window.end {
                    if Int64(due) > clock.now() {
                        try await Task.sleep(until: clock.instant(Int64(due)), clock: .continuous)
                    }
                    // Late sends go out at once (a burst), each counted as lag against its schedule.
                    let now = clock.now()
                    if window.contains(now) { _ = result.lag.record(UInt64(max(0, now - Int64(due)) / 1000)) }
                    let seq = next * perRoom + index
                    next += 1
                    try await send(seq: seq, at: now, to: outbound, window: window, result: &result)
                    due += interval
                }
            }
        } catch is CancellationError {
            return
        } catch {
            result.error = "publisher in room \(plan.roomCode(room)): \(error)"
        }
    }

    private func send(
        seq: Int,
        at now: Int64,
        to outbound: WebSocketOutboundWriter,
        window: MeasurementWindow,
        result: inout PublisherResult
    ) async throws {
        try await outbound.write(.text(BenchStamp(sentAt: now, seq: seq).command(size: context.plan.size)))
        if window.contains(now) { result.sentMeasured += 1 }
        context.sent()
    }
}
