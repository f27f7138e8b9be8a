import ParleyClient
import Synchronization

/// What every task of one run shares: the plan and clock, the measurement window, live counters (atomics,
/// touched once per delivery), the signals between phases, and the tally the members merge into as they end.
final class BenchContext: Sendable {
    let plan: BenchPlan
    let clock: BenchClock
    /// Closed loop: one per room. Empty in open loop.
    let windows: [InFlightWindow]

    /// Publishers start at this time (``BenchClock`` nanoseconds).
    let start = Latch<Int64>()
    /// Every publisher has stopped.
    let publishersDone = Latch<Void>()
    /// Every expected measured delivery has arrived.
    let drained = Latch<Void>()
    /// Members close their connections.
    let stop = Latch<Void>()

    private let windowStart = Atomic<Int64>(.max)
    private let windowEnd = Atomic<Int64>(.max)
    private let deliveries = Atomic<Int>(0)
    private let measuredDeliveries = Atomic<Int>(0)
    private let expectedDeliveries = Atomic<Int>(.max)
    private let sentMessages = Atomic<Int>(0)
    private let anomalies = Atomic<Int>(0)
    private let joinedMembers = Atomic<Int>(0)
    private let stoppedPublishers = Atomic<Int>(0)
    private let ackTimeouts = Atomic<Int>(0)
    private let tally = Mutex(BenchTally())
    private let cpuPercent = Mutex<Double?>(nil)

    init(plan: BenchPlan, clock: BenchClock) {
        self.plan = plan
        self.clock = clock
        switch plan.load {
        case .window(let window):
            let publishers = plan.publishersInRoom
            windows = (0..<plan.rooms).map { _ in
                InFlightWindow(publishers: publishers, window: window, recipients: plan.membersPerRoom)
            }
        case .rate:
            windows = []
        }
    }

    /// The measured window, or ``MeasurementWindow/unknown`` before the start.
    var window: MeasurementWindow {
        MeasurementWindow(start: windowStart.load(ordering: .acquiring), end: windowEnd.load(ordering: .acquiring))
    }

    /// Fixes the window and releases the publishers.
    func begin(at startTime: Int64) {
        let measureStart = startTime + BenchClock.nanoseconds(plan.warmup)
        windowEnd.store(measureStart + BenchClock.nanoseconds(plan.duration), ordering: .releasing)
        windowStart.store(measureStart, ordering: .releasing)
        start.open(startTime)
    }

    /// Tells every member to close and every closed-loop publisher that no credit will come.
    func stopAll() {
        stop.open()
        for window in windows { window.finish() }
    }

    func joined() { joinedMembers.add(1, ordering: .relaxed) }

    /// Accounts for one frame a member of `room` received.
    func received(_ delivery: MemberReader.Delivery, room: Int) {
        if delivery.anomaly { anomalies.add(1, ordering: .relaxed) }
        guard let seq = delivery.seq else { return }
        deliveries.add(1, ordering: .relaxed)
        if !windows.isEmpty { windows[room].delivered(seq: seq) }
        if delivery.measured {
            let count = measuredDeliveries.add(1, ordering: .relaxed).newValue
            if count >= expectedDeliveries.load(ordering: .relaxed) { drained.open() }
        }
    }

    func sent() { sentMessages.add(1, ordering: .relaxed) }

    func gaveUp(_ count: Int) { ackTimeouts.add(count, ordering: .relaxed) }

    /// Merges a member's reader when its connection has ended.
    func collect(_ reader: MemberReader) {
        tally.withLock { $0.add(reader) }
    }

    /// Merges a publisher's result; the last one opens ``publishersDone``.
    func collect(_ publisher: PublisherResult) {
        tally.withLock { $0.add(publisher) }
        if stoppedPublishers.add(1, ordering: .relaxed).newValue == plan.totalPublishers { publishersDone.open() }
    }

    /// The generator's own CPU use over the measured window, in percent of one core.
    func measuredCPU(percent: Double) {
        cpuPercent.withLock { $0 = percent }
    }

    func connectionError(_ description: String) {
        tally.withLock { $0.connectionError(description) }
    }

    /// Once the publishers have stopped: the deliveries owed are now known; opens ``drained`` if they are in.
    func expectDeliveries() {
        let expected = tally.withLock { $0.sentMeasured } * plan.membersPerRoom
        expectedDeliveries.store(expected, ordering: .relaxed)
        if measuredDeliveries.load(ordering: .relaxed) >= expected { drained.open() }
    }

    /// Live counters for the progress line.
    struct Counters: Equatable {
        var joined: Int
        var sent: Int
        var deliveries: Int
        var anomalies: Int
    }

    var counters: Counters {
        Counters(
            joined: joinedMembers.load(ordering: .relaxed),
            sent: sentMessages.load(ordering: .relaxed),
            deliveries: deliveries.load(ordering: .relaxed),
            anomalies: anomalies.load(ordering: .relaxed)
        )
    }

    /// The phase at `now`.
    func phase(at now: Int64) -> BenchProgress.Phase {
        if stop.value != nil { return .closing }
        let window = window
        if window == .unknown { return .connecting }
        if now < window.start { return .warmup }
        if now < window.end { return .measuring }
        return .draining
    }

    /// The report, from the tally as it stands (call once every member has ended).
    func report(completed: Bool, setupSeconds: Double) -> BenchReport {
        let tally = tally.withLock { $0 }
        let durationSeconds = Double(BenchClock.nanoseconds(plan.duration)) / 1e9
        let expected = tally.sentMeasured * plan.membersPerRoom
        let histogram = tally.latency
        func millis(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        let (loop, rate, window): (String, Double?, Int?) =
            switch plan.load {
            case .rate(let rate): ("open", rate, nil)
            case .window(let window): ("closed", nil, window)
            }
        return BenchReport(
            url: plan.endpoints.map(\.webSocketBase).joined(separator: " "),
            roomPrefix: plan.roomPrefix,
            rooms: plan.rooms,
            members: plan.membersPerRoom,
            publishers: plan.publishersInRoom,
            loop: loop,
            rate: rate,
            window: window,
            warmupSeconds: Double(BenchClock.nanoseconds(plan.warmup)) / 1e9,
            durationSeconds: durationSeconds,
            size: plan.size,
            completed: completed,
            setupSeconds: setupSeconds,
            sent: tally.sentMeasured,
            sentPerSecond: Double(tally.sentMeasured) / durationSeconds,
            expected: expected,
            received: tally.measured,
            lost: max(0, expected - tally.measured),
            deliveriesPerSecond: Double(tally.inWindow) / durationSeconds,
            latency: BenchReport.Latency(
                count: histogram.totalCount,
                p50: millis(histogram.valueAtPercentile(50)),
                p90: millis(histogram.valueAtPercentile(90)),
                p99: millis(histogram.valueAtPercentile(99)),
                p999: millis(histogram.valueAtPercentile(99.9)),
                max: millis(histogram.max),
                mean: histogram.totalCount > 0 ? histogram.mean / 1000 : 0
            ),
            sendLagP99: rate != nil && tally.sendLag.totalCount > 0 ? millis(tally.sendLag.valueAtPercentile(99)) : nil,
            gaps: tally.gaps,
            missingIDs: tally.missingIDs,
            duplicates: tally.duplicates,
            reorders: tally.reorders,
            anomalies: Array(tally.anomalies.sorted { $0.atSeconds < $1.atSeconds }.prefix(10)),
            ackTimeouts: ackTimeouts.load(ordering: .relaxed),
            serverErrors: tally.serverErrors,
            serverErrorSample: tally.serverErrorSample,
            connectionErrors: tally.connectionErrors,
            connectionErrorSample: tally.connectionErrorSample,
            otherFrames: tally.otherFrames,
            cpuPercent: cpuPercent.withLock { $0 }
        )
    }
}
