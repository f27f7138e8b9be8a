import HummingbirdWSClient
import Logging
import NIOCore
import ParleyClient
import Synchronization

/// `parley bench --failover`: open-loop traffic over the nodes of a cluster while one of them is lost.
///
/// 1. Every member connects to its node (``BenchPlan/endpoint(room:member:)``, so each room spans every
///    node) and gets its `welcome`.
/// 2. The first ``BenchPlan/publishersInRoom`` members of each room send with a `client_id`, ``rate``
///    messages per second in total, for ``BenchPlan/duration``.
/// 3. ``faultAt`` after the start, ``fault`` runs (for instance `kill -9` of one node). A member whose
///    connection drops, then or at any other time, dials the next node at once with `since` and `session`;
///    a publisher sends again what was not acknowledged, same text and `client_id`, then keeps to its
///    schedule. Publishers on the nodes still alive never pause.
/// 4. The drain: publishers resend what stays unacknowledged past ``BenchPlan/ackTimeout`` until every
///    message is acknowledged, every moved member is back and every member has its room's newest message,
///    or ``BenchPlan/drain`` passes.
///
/// The time to all-back runs from the first drop to the last moved member's `welcome`.
public struct FailoverRunner: Sendable {
    public let plan: BenchPlan
    /// Messages per second in total, spread evenly over the publishers.
    public var rate: Double
    /// When ``fault`` runs, after the publishers start; `nil`: never (the drops come from elsewhere).
    public var faultAt: Duration?
    let fault: @Sendable () async throws -> Void
    let logger: Logger

    /// Pause before dialling again after a dial without `welcome`.
    static let redialPause = Duration.milliseconds(100)
    /// How often the coordinator looks at the members.
    static let poll = Duration.milliseconds(50)

    public init(
        plan: BenchPlan,
        rate: Double,
        faultAt: Duration? = nil,
        logger: Logger,
        fault: @escaping @Sendable () async throws -> Void = {}
    ) {
        self.plan = plan
        self.rate = rate
        self.faultAt = faultAt
        self.logger = logger
        self.fault = fault
    }

    /// One member's state, shared by its connections' readers, its publisher and the coordinator.
    final class Box: Sendable {
        let state: Mutex<FailoverMember>
        /// Why the member gave up (it could not join, or not come back in time).
        let failure = Mutex<String?>(nil)
        /// Its index among all publishers, to spread the schedules evenly.
        let globalPublisher: Int?

        init(_ member: FailoverMember, globalPublisher: Int?) {
            state = Mutex(member)
            self.globalPublisher = globalPublisher
        }
    }

    final class Shared: Sendable {
        let clock = BenchClock()
        let members: [Box]
        /// Publishers start at this time (``BenchClock`` nanoseconds).
        let start = Latch<Int64>()
        /// Everyone closes.
        let stop = Latch<Void>()
        /// Every member task has ended.
        let ended = Latch<Void>()
        /// One per first join that got its `welcome` or gave up: a dial slot is free.
        let settled: AsyncStream<Void>.Continuation
        let slots: AsyncStream<Void>

        init(members: [Box]) {
            self.members = members
            (slots, settled) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .unbounded)
        }
    }

    /// Runs the plan and reports what it saw; `progress` hears of each phase as it begins.
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> FailoverReport {
        let perRoom = plan.publishersInRoom
        let boxes = (0..<(plan.rooms * plan.membersPerRoom)).map { index in
            let (room, number) = (index / plan.membersPerRoom, index % plan.membersPerRoom)
            let publisher = number < perRoom ? number : nil
            return Box(
                FailoverMember(
                    room: room,
                    roomCode: plan.roomCode(room),
                    member: number,
                    nick: plan.nick(number),
                    publisher: publisher,
                    publishers: perRoom
                ),
                globalPublisher: publisher.map { room * perRoom + $0 }
            )
        }
        let shared = Shared(members: boxes)
        var report = FailoverReport(
            url: plan.endpoints.map(\.webSocketBase).joined(separator: " "),
            roomPrefix: plan.roomPrefix,
            rooms: plan.rooms,
            members: plan.membersPerRoom,
            publishers: perRoom,
            rate: rate,
            durationSeconds: Double(BenchClock.nanoseconds(plan.duration)) / 1e9
        )
        report.faultAtSeconds = faultAt.map { Double(BenchClock.nanoseconds($0)) / 1e9 }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dial(shared) }
            await coordinate(shared, report: &report, progress: progress)
            shared.stop.open()
            _ = await shared.ended.wait(atMost: .seconds(10))
            group.cancelAll()
        }
        summarise(shared, into: &report)
        return report
    }

    /// The phases, in order; returns early (with `completed` false) when one does not finish in time.
    private func coordinate(_ shared: Shared, report: inout FailoverReport, progress: @Sendable (String) -> Void) async {
        let total = shared.members.count
        progress("connecting \(total) members to \(plan.endpoints.count) nodes")
        let joinDeadline = ContinuousClock.now + plan.joinTimeout
        var joined = 0
        while ContinuousClock.now < joinDeadline {
            joined = shared.members.count { $0.state.withLock { $0.welcomes > 0 } }
            let failed = shared.members.count { $0.failure.withLock { $0 != nil } }
            if joined + failed >= total { break }
            try? await Task.sleep(for: Self.poll)
        }
        guard joined == total else {
            report.firstError = "only \(joined) of \(total) members joined"
            return
        }
        let start = shared.clock.now() + 20_000_000
        shared.start.open(start)
        progress("\(total) joined; sending " + String(format: "%.0f", rate) + " messages/s")
        if let faultAt {
            try? await Task.sleep(until: shared.clock.instant(start + BenchClock.nanoseconds(faultAt)), clock: .continuous)
            progress("running the fault")
            do {
                try await fault()
            } catch {
                report.firstError = "the fault failed: \(error)"
                return
            }
        }
        try? await Task.sleep(until: shared.clock.instant(start + BenchClock.nanoseconds(plan.duration)), clock: .continuous)
        progress("draining")
        let drainDeadline = ContinuousClock.now + plan.drain
        var settled = true
        while !isSettled(shared) {
            guard ContinuousClock.now < drainDeadline else {
                settled = false
                break
            }
            try? await Task.sleep(for: Self.poll)
        }
        // Said whether or not the drain settled: a run whose fault missed says so, not merely that it timed out.
        if faultAt != nil, !shared.members.contains(where: { $0.state.withLock { $0.droppedAt != nil } }) {
            report.firstError = "the fault dropped no connection"
            return
        }
        report.completed = settled
    }

    /// Every member still trying is connected, has every message its room's members have, and has every
    /// message it sent acknowledged.
    private func isSettled(_ shared: Shared) -> Bool {
        var newest = [Int64](repeating: 0, count: plan.rooms)
        var members: [FailoverMember] = []
        for box in shared.members where box.failure.withLock({ $0 == nil }) {
            let member = box.state.withLock { $0 }
            guard member.connected, member.unacknowledged.isEmpty else { return false }
            newest[member.room] = max(newest[member.room], member.lastID)
            members.append(member)
        }
        return members.allSatisfy { $0.lastID == newest[$0.room] }
    }

    private func summarise(_ shared: Shared, into report: inout FailoverReport) {
        var members = shared.members.map { $0.state.withLock { $0 } }
        var newest = [Int64](repeating: 0, count: plan.rooms)
        for index in members.indices {
            members[index].finish()
            newest[members[index].room] = max(newest[members[index].room], members[index].lastID)
        }
        report.joined = members.count { $0.welcomes > 0 }
        report.sent = members.reduce(0) { $0 + $1.sent }
        report.resent = members.reduce(0) { $0 + $1.resent }
        report.unacknowledged = members.reduce(0) { $0 + $1.unacknowledged.count }
        report.deliveries = members.reduce(0) { $0 + $1.deliveries }
        report.gaps = members.reduce(0) { $0 + $1.gaps }
        report.missingIDs = members.reduce(0) { $0 + $1.missingIDs }
        report.duplicates = members.reduce(0) { $0 + $1.duplicates }
        report.reorders = members.reduce(0) { $0 + $1.reorders }
        report.storedTwice = members.reduce(0) { $0 + $1.storedTwice }
        report.storedTwiceSample = members.lazy.compactMap(\.storedTwiceSample).first
        report.serverErrors = members.reduce(0) { $0 + $1.serverErrors }
        report.serverErrorSample = members.lazy.compactMap(\.serverErrorSample).first
        report.behind = members.count { $0.welcomes > 0 && $0.lastID < newest[$0.room] }
        let lost = members.filter { $0.lostNickAs != nil }
        report.lostNicks = lost.count
        report.lostNickSample = lost.first.map { "room \($0.roomCode): asked for \($0.nick), got \($0.lostNickAs ?? "")" }
        report.anomalies = Array(members.flatMap(\.anomalies).sorted { $0.atSeconds < $1.atSeconds }.prefix(10))
        let moved = members.filter { $0.droppedAt != nil }
        report.moved = moved.count
        report.back = moved.count { $0.backAt != nil }
        let start = shared.start.value ?? 0
        if let firstDrop = moved.compactMap(\.droppedAt).min() {
            report.firstDropSeconds = Double(firstDrop - start) / 1e9
            if report.back == report.moved, let lastBack = moved.compactMap(\.backAt).max() {
                report.allBackSeconds = Double(lastBack - firstDrop) / 1e9
            }
        }
        let failures = shared.members.compactMap { $0.failure.withLock { $0 } }
        report.failed = failures.count
        report.firstError = report.firstError ?? failures.first
    }

    /// Starts every member, at most ``BenchPlan/connectConcurrency`` first joins unfinished at once.
    private func dial(_ shared: Shared) async {
        defer { shared.ended.open() }
        for _ in 0..<plan.connectConcurrency { shared.settled.yield() }
        var slot = shared.slots.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            for box in shared.members {
                guard await slot.next() != nil, shared.stop.value == nil else { break }
                group.addTask { await member(box, shared: shared) }
            }
        }
    }

    /// One member: joins its node, and whenever its connection drops dials the next node with `since` and
    /// `session`, until the run stops or it has been away longer than the join timeout.
    private func member(_ box: Box, shared: Shared) async {
        let (room, number) = box.state.withLock { ($0.room, $0.member) }
        var node = plan.endpointIndex(room: room, member: number)
        var attempts = 0
        var problem = "closed before welcome"
        while shared.stop.value == nil, !Task.isCancelled {
            let (joinedBefore, since, session) = box.state.withLock { ($0.welcomes > 0, $0.lastID, $0.session) }
            let endpoint = plan.endpoints[node]
            let url =
                joinedBefore
                ? endpoint.webSocketURL(room: plan.roomCode(room), nick: plan.nick(number), since: since, session: session)
                : endpoint.webSocketURL(room: plan.roomCode(room), nick: plan.nick(number))
            let welcomed: Bool
            (welcomed, problem) = await connection(url: url, box: box, shared: shared, firstJoin: !joinedBefore)
            guard shared.stop.value == nil else { return }
            let now = shared.clock.now()
            if welcomed {
                attempts = 0
                box.state.withLock { $0.dropped(at: now) }
            } else {
                attempts += 1
            }
            let (everJoined, awaySince) = box.state.withLock { ($0.welcomes > 0, $0.awaySince) }
            if !everJoined, attempts >= StormRunner.attempts {
                box.failure.withLock { $0 = "\(plan.roomCode(room)) member \(plan.nick(number)): \(problem)" }
                shared.settled.yield()
                return
            }
            if let awaySince, now - awaySince > BenchClock.nanoseconds(plan.joinTimeout) {
                box.failure.withLock { $0 = "\(plan.roomCode(room)) member \(plan.nick(number)): not back after \(plan.joinTimeout): \(problem)" }
                return
            }
            // A member that was in moves on to the next node; a first join keeps to its own.
            if everJoined { node = (node + 1) % plan.endpoints.count }
            if !welcomed { try? await Task.sleep(for: Self.redialPause * attempts) }
        }
    }

    /// Holds one connection until it closes; returns whether it got its `welcome`, and what went wrong.
    private func connection(url: String, box: Box, shared: Shared, firstJoin: Bool) async -> (Bool, String) {
        let welcomed = Latch<Void>()
        var problem = "closed before welcome"
        do {
            _ = try await StormRunner.connect(url: url, logger: logger) { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        guard await shared.stop.wait() != nil else { return }
                        try? await outbound.close(.normalClosure, reason: nil)
                    }
                    var partial: ByteBuffer?
                    for try await frame in inbound {
                        guard let message = BenchRunner.assemble(frame, into: &partial) else { continue }
                        let now = shared.clock.now()
                        if welcomed.value == nil {
                            guard let welcome = message.withUnsafeReadableBytes({ FrameScanner.scanWelcome($0) }) else { continue }
                            box.state.withLock { $0.welcome(welcome, at: now) }
                            welcomed.open()
                            if firstJoin { shared.settled.yield() }
                            if box.globalPublisher != nil { group.addTask { try await publish(box, to: outbound, shared: shared) } }
                        } else {
                            let scanned = message.withUnsafeReadableBytes { FrameScanner.scan($0) }
                            box.state.withLock { $0.received(scanned, at: now) }
                        }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            problem = "\(error)"
        }
        return (welcomed.value != nil, problem)
    }

    /// A publisher on one connection: first sends again what an earlier connection left unacknowledged, then
    /// keeps to its schedule (late messages go out at once), resending what stays unacknowledged past the
    /// ack timeout, until the connection ends.
    private func publish(_ box: Box, to outbound: WebSocketOutboundWriter, shared: Shared) async throws {
        let size = plan.size
        func write(_ stamp: BenchStamp) async throws {
            try await outbound.write(.text(stamp.command(size: size, clientID: FailoverMember.clientID(stamp.seq))))
        }
        for stamp in box.state.withLock({ $0.resend() }) { try await write(stamp) }
        guard let start = await shared.start.wait(), let index = box.globalPublisher else { return }
        let interval = Double(plan.totalPublishers) / rate * 1e9
        let offset = interval * Double(index) / Double(plan.totalPublishers)
        let end = start + BenchClock.nanoseconds(plan.duration)
        let ackTimeout = BenchClock.nanoseconds(plan.ackTimeout)
        var lastResend = shared.clock.now()
        while !Task.isCancelled {
            let now = shared.clock.now()
            let due = Int64(Double(start) + offset + interval * Double(box.state.withLock { $0.sent }))
            if due < end, due <= now {
                try await write(box.state.withLock { $0.nextMessage(at: now) })
            } else if now >= lastResend + ackTimeout {
                lastResend = now
                for stamp in box.state.withLock({ $0.resend(sentBefore: now - ackTimeout) }) { try await write(stamp) }
            } else {
                let wake = min(due < end ? due : .max, lastResend + ackTimeout)
                try await Task.sleep(until: shared.clock.instant(wake), clock: .continuous)
            }
        }
    }
}
