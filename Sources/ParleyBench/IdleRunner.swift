import HummingbirdWSClient
import Logging
import NIOCore
import ParleyClient

/// `parley bench --idle`: opens many connections, holds them, and checks that every one receives a
/// broadcast sent by someone else (for example `POST /api/rooms/{code}/messages`), for connection counts
/// and cross-node fan-out rather than throughput.
///
/// Several processes may share rooms through ``BenchPlan/roomPrefix``, so that more connections than one
/// process may open can sit in the same rooms.
public struct IdleRunner: Sendable {
    public let plan: BenchPlan
    /// How long to wait for the broadcast once everyone has joined.
    public let hold: Duration
    let logger: Logger

    public init(plan: BenchPlan, hold: Duration, logger: Logger) {
        self.plan = plan
        self.hold = hold
        self.logger = logger
    }

    /// What an idle run saw.
    public struct Report: Sendable, Codable {
        public var connections: Int
        public var joined: Int
        public var received: Int
        public var failed: Int
        /// Joins refused and tried again (every member gets ``IdleRunner/attempts`` tries).
        public var retries = 0
        /// Seconds from the first connection to the last welcome.
        public var joinSeconds: Double
        /// Seconds from the first broadcast arriving anywhere to the last.
        public var spreadSeconds: Double?
        public var firstError: String?

        public var isComplete: Bool { received == connections }
    }

    enum Event: Sendable {
        case joined(at: ContinuousClock.Instant)
        case received(at: ContinuousClock.Instant)
        case failed(String)
        /// A member's join was refused and is being tried again.
        case retried
        /// Time passed: check the deadlines.
        case tick
    }

    /// Runs: `onReady` is called once every member has its welcome (or has failed).
    public func run(onReady: @Sendable (Int) -> Void) async -> Report {
        let total = plan.rooms * plan.membersPerRoom
        let (events, sink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        let start = ContinuousClock.now
        var report = Report(connections: total, joined: 0, received: 0, failed: 0, joinSeconds: 0)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Dials at most `connectConcurrency` at once: each dial's slot frees when its welcome comes.
                let (slots, freed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .unbounded)
                for _ in 0..<plan.connectConcurrency { freed.yield() }
                var slot = slots.makeAsyncIterator()
                await withTaskGroup(of: Void.self) { members in
                    for index in 0..<total {
                        guard await slot.next() != nil else { break }
                        members.addTask { await member(index, events: sink, freed: freed) }
                    }
                }
            }
            var firstReceipt: ContinuousClock.Instant?
            var lastReceipt: ContinuousClock.Instant?
            var ready = false
            let joinDeadline = start + plan.joinTimeout
            var holdDeadline: ContinuousClock.Instant?
            group.addTask {
                // Wakes the loop below at the deadlines even when nothing arrives.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    sink.yield(.tick)
                }
            }
            for await event in events {
                switch event {
                case .joined(let at):
                    report.joined += 1
                    report.joinSeconds = Double(BenchClock.nanoseconds(at - start)) / 1e9
                case .received(let at):
                    report.received += 1
                    firstReceipt = firstReceipt ?? at
                    lastReceipt = at
                case .failed(let problem):
                    report.failed += 1
                    report.firstError = report.firstError ?? problem
                case .retried:
                    report.retries += 1
                case .tick:
                    break
                }
                let now = ContinuousClock.now
                if !ready, report.joined + report.failed == total || now > joinDeadline {
                    ready = true
                    holdDeadline = now + hold
                    onReady(report.joined)
                }
                if report.received + report.failed >= total || (holdDeadline.map { now > $0 } ?? false) {
                    break
                }
            }
            if let firstReceipt, let lastReceipt { report.spreadSeconds = Double(BenchClock.nanoseconds(lastReceipt - firstReceipt)) / 1e9 }
            group.cancelAll()
        }
        return report
    }

    /// One idle member. A refused join (a busy cluster answers `unavailable`) is retried a few times after a
    /// pause, as real clients reconnect; the member fails only when every attempt does.
    private func member(_ index: Int, events: AsyncStream<Event>.Continuation, freed: AsyncStream<Void>.Continuation) async {
        let room = index / plan.membersPerRoom
        let member = index % plan.membersPerRoom
        let welcomed = Latch<Void>()
        var problem = "closed by the server"
        for attempt in 1...Self.attempts {
            if attempt > 1 {
                events.yield(.retried)
                try? await Task.sleep(for: .milliseconds(500 * attempt))
            }
            do {
                _ = try await BenchRunner.connect(plan: plan, room: room, member: member, logger: logger) { inbound, _ in
                    var partial: ByteBuffer?
                    var received = false
                    for try await frame in inbound {
                        guard let message = BenchRunner.assemble(frame, into: &partial) else { continue }
                        let scanned = message.withUnsafeReadableBytes { FrameScanner.scan($0) }
                        switch scanned {
                        case .welcome where welcomed.value == nil:
                            welcomed.open()
                            freed.yield()
                            events.yield(.joined(at: .now))
                        case .message where welcomed.value != nil && !received:
                            received = true
                            events.yield(.received(at: .now))
                        default:
                            break
                        }
                    }
                }
                problem = "closed by the server"
            } catch {
                problem = "\(error)"
            }
            if Task.isCancelled { return }
            // Once joined, a close is a failure of the run, not something to retry.
            if welcomed.value != nil { break }
        }
        if welcomed.value == nil { freed.yield() }
        events.yield(.failed("\(plan.roomCode(room)) member \(member): \(problem)"))
    }

    /// Tries per member before it counts as failed.
    static let attempts = 4
}
