import Logging

/// Runs a bench: connects every member, confirms each one's `welcome`, runs the warm-up and the measured
/// window, drains, closes, and reports.
///
/// Every phase is bounded: joining by ``BenchPlan/joinTimeout``, the drain by ``BenchPlan/drain``, and the
/// whole run by ``BenchPlan/hardDeadline``, after which it stops and reports what it has
/// (``BenchReport/completed`` is then false).
///
/// ```swift
/// let report = try await BenchRunner(plan: plan).run { progress in print(progress.line) }
/// ```
public struct BenchRunner: Sendable {
    public let plan: BenchPlan
    let logger: Logger
    /// How often progress is reported and closed-loop messages past the ack timeout are given up.
    let tick: Duration

    public init(plan: BenchPlan, logger: Logger = Logger(label: "parley.bench"), tick: Duration = .seconds(1)) {
        self.plan = plan
        self.logger = logger
        self.tick = tick
    }

    enum Outcome: Sendable {
        case finished
        case deadline
        case failed(BenchError)
    }

    /// Runs the plan; calls `progress` once per tick while it runs.
    ///
    /// - Throws: ``BenchError`` when a member cannot connect or join in time (nothing is measured then).
    public func run(progress: @escaping @Sendable (BenchProgress) -> Void = { _ in }) async throws(BenchError) -> BenchReport {
        let context = BenchContext(plan: plan, clock: BenchClock())
        let outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask { await coordinate(context) }
            group.addTask {
                await report(progress, context)
                return nil
            }
            group.addTask {
                do {
                    try await Task.sleep(for: plan.hardDeadline)
                    return .deadline
                } catch {
                    return nil
                }
            }
            var outcome = Outcome.deadline
            while let next = await group.next() {
                if let next {
                    outcome = next
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
        let setup = context.start.value.map { Double($0) / 1e9 } ?? 0
        switch outcome {
        case .failed(let error): throw error
        case .deadline:
            guard context.start.value != nil else {
                throw BenchError(kind: .joinFailed, message: "the hard deadline passed before every member had joined")
            }
            return context.report(completed: false, setupSeconds: setup)
        case .finished:
            return context.report(completed: true, setupSeconds: setup)
        }
    }

    /// Dials every member (at most ``BenchPlan/connectConcurrency`` at once), waits for every `welcome`,
    /// starts the publishers, waits for them and for the drain, then closes every connection.
    private func coordinate(_ context: BenchContext) async -> Outcome {
        let total = plan.rooms * plan.membersPerRoom
        let (joins, joinSink) = AsyncStream.makeStream(of: JoinEvent.self)
        var failure: BenchError?
        await withTaskGroup(of: Void.self) { members in
            members.addTask {
                if await context.stop.wait(atMost: plan.joinTimeout) == nil { joinSink.yield(.timedOut) }
            }
            var dialed = 0
            var joined = 0
            func dialMore(_ members: inout TaskGroup<Void>) {
                while dialed < total, dialed - joined < plan.connectConcurrency {
                    let (room, member) = (dialed % plan.rooms, dialed / plan.rooms)
                    members.addTask { await runMember(room: room, member: member, context: context, joins: joinSink) }
                    dialed += 1
                }
            }
            dialMore(&members)
            for await event in joins {
                switch event {
                case .joined:
                    joined += 1
                    context.joined()
                case .failed(let error):
                    failure = error
                case .timedOut:
                    failure = BenchError(
                        kind: .joinFailed,
                        message: "only \(joined) of \(total) members joined within \(plan.joinTimeout)"
                    )
                }
                if failure != nil || joined == total { break }
                dialMore(&members)
            }
            guard failure == nil, !Task.isCancelled else {
                context.stopAll()
                members.cancelAll()
                return
            }
            logger.debug("every member joined", metadata: ["members": "\(total)"])
            context.begin(at: context.clock.now() + 20_000_000)
            await measureCPU(context)
            _ = await context.publishersDone.wait()
            context.expectDeliveries()
            _ = await context.drained.wait(atMost: plan.drain)
            context.stopAll()
        }
        return failure.map { .failed($0) } ?? .finished
    }

    /// Sleeps through the measured window, noting the process's CPU time at both ends.
    private func measureCPU(_ context: BenchContext) async {
        let window = context.window
        do {
            try await Task.sleep(until: context.clock.instant(window.start), clock: .continuous)
            let start = ProcessCPU.seconds()
            try await Task.sleep(until: context.clock.instant(window.end), clock: .continuous)
            let seconds = Double(window.end - window.start) / 1e9
            context.measuredCPU(percent: (ProcessCPU.seconds() - start) / seconds * 100)
        } catch {
            return
        }
    }

    /// Until cancelled: once per tick, gives up closed-loop messages past the ack timeout and reports progress.
    private func report(_ progress: @Sendable (BenchProgress) -> Void, _ context: BenchContext) async {
        var last = context.counters
        var lastTime = context.clock.now()
        let ackTimeout = BenchClock.nanoseconds(plan.ackTimeout)
        while true {
            do { try await Task.sleep(for: tick) } catch { return }
            let now = context.clock.now()
            for window in context.windows { context.gaveUp(window.expire(sentBefore: now - ackTimeout)) }
            let counters = context.counters
            let seconds = Double(now - lastTime) / 1e9
            progress(
                BenchProgress(
                    phase: context.phase(at: now),
                    elapsed: Double(now) / 1e9,
                    joined: counters.joined,
                    members: plan.rooms * plan.membersPerRoom,
                    sentPerSecond: Double(counters.sent - last.sent) / seconds,
                    deliveriesPerSecond: Double(counters.deliveries - last.deliveries) / seconds,
                    anomalies: counters.anomalies
                )
            )
            (last, lastTime) = (counters, now)
        }
    }
}
