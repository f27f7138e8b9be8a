import Logging
import NIOCore
import ParleyClient
import Synchronization

/// `parley bench --storm`: a reconnect storm after a server restart, checked like a real client's resume.
///
/// 1. Every member connects (at most ``BenchPlan/connectConcurrency`` dials unfinished at once) and gets its
///    `welcome`; the first member of each room then sends ``history`` messages, and every member receives them.
/// 2. ``restart`` runs (it must return once the server accepts connections again); every connection must drop.
/// 3. One announcer per room connects and sends ``missed`` messages, which the members miss while away.
/// 4. The storm: every member reconnects at once (the same bound on dials) with `since` = the last id it saw and
///    the `session` its last `welcome` gave, as a resuming client does. Its `welcome` must give back its nick and
///    hold in `history` exactly the messages it missed.
///
/// Time to all-back runs from the end of the restart to the last `welcome`.
public struct StormRunner: Sendable {
    public let plan: BenchPlan
    /// Messages sent to each room before the restart.
    public var history: Int
    /// Messages sent to each room after the restart, before the members come back.
    public var missed: Int
    let restart: @Sendable () async throws -> Void
    let logger: Logger

    /// Tries per dial before the member counts as failed.
    static let attempts = 4
    /// The nick of each room's announcer.
    static let announcerNick = "storm-announcer"

    public init(plan: BenchPlan, history: Int = 20, missed: Int = 5, logger: Logger, restart: @escaping @Sendable () async throws -> Void) {
        self.plan = plan
        self.history = history
        self.missed = missed
        self.logger = logger
        self.restart = restart
    }

    enum Event: Sendable {
        case joined
        case caughtUp
        case dropped
        case announced
        case rejoined(at: ContinuousClock.Instant)
        case done(at: ContinuousClock.Instant)
        case retried
        case failed(String)
        /// A member back after the restart was closed by the server before the run stopped.
        case closedAfterResume(String)
        case finished(StormMember)
        case tick
    }

    /// What the members and the coordinator share.
    final class Shared: Sendable {
        let start = ContinuousClock.now
        /// Every member has joined: publishers send the history.
        let allJoined = Latch<Void>()
        /// The restart is over and every connection dropped: announcers dial.
        let announce = Latch<Void>()
        /// Announcers are done: the storm begins.
        let storm = Latch<Void>()
        /// One per member: its turn to dial again.
        let goes: [Latch<Int>]
        /// Everyone closes.
        let stop = Latch<Void>()
        let events: AsyncStream<Event>.Continuation
        /// The source address (its index) of a dial that finished.
        let freed: AsyncStream<Int>.Continuation
        /// Every connection opened, closed when the run stops.
        private let channels = Mutex<[any Channel]>([])

        init(total: Int, events: AsyncStream<Event>.Continuation, freed: AsyncStream<Int>.Continuation) {
            goes = (0..<total).map { _ in Latch<Int>() }
            self.events = events
            self.freed = freed
        }

        /// Nanoseconds since the run began.
        func elapsed() -> Int64 { BenchClock.nanoseconds(ContinuousClock.now - start) }

        /// Keeps `channel` to close at the end (at once if the run has stopped).
        func register(_ channel: any Channel) {
            channels.withLock { $0.append(channel) }
            if stop.value != nil { StormSocket.close(channel) }
        }

        /// Stops the run: every connection closes, and publishers still waiting give up.
        func stopAll() {
            stop.open()
            allJoined.open()
            for channel in channels.withLock({ $0 }) where channel.isActive { StormSocket.close(channel) }
        }
    }

    /// Runs the storm and reports what it saw; `progress` hears of each phase as it begins.
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> StormReport {
        let total = plan.rooms * plan.membersPerRoom
        var report = StormReport(
            url: plan.endpoints.map(\.webSocketBase).joined(separator: " "),
            roomPrefix: plan.roomPrefix,
            rooms: plan.rooms,
            members: plan.membersPerRoom,
            history: history,
            missed: missed
        )
        let (events, sink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        let (slots, freed) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .unbounded)
        let shared = Shared(total: total, events: sink, freed: freed)
        var tracker = Tracker(iterator: events.makeAsyncIterator())
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await dial(total: total, slots: slots, shared: shared) }
            group.addTask {
                // Wakes the coordinator at its deadlines even when nothing arrives.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    sink.yield(.tick)
                }
            }
            await coordinate(total: total, shared: shared, tracker: &tracker, report: &report, progress: progress)
            shared.stopAll()
            // Members still waiting for their turn to come back give up.
            for go in shared.goes { go.open(0) }
            _ = await tracker.wait(until: .now + .seconds(10)) { $0.finished == total }
            group.cancelAll()
        }
        var members = tracker.counts.members
        for index in members.indices { members[index].finish() }
        report.gaps = members.reduce(0) { $0 + $1.gaps }
        report.missingIDs = members.reduce(0) { $0 + $1.missingIDs }
        report.duplicates = members.reduce(0) { $0 + $1.duplicates }
        report.reorders = members.reduce(0) { $0 + $1.reorders }
        let lost = members.filter { $0.lostNickAs != nil }
        report.lostNicks = lost.count
        report.lostNickSample = lost.first.map { "room \($0.roomCode): asked for \($0.nick), got \($0.lostNickAs ?? "")" }
        report.anomalies = Array(members.flatMap(\.anomalies).sorted { $0.atSeconds < $1.atSeconds }.prefix(10))
        report.retries = tracker.counts.retries
        report.failed = tracker.counts.failed
        report.closedAfterResume = tracker.counts.closedAfterResume
        report.firstError = report.firstError ?? tracker.counts.firstError
        return report
    }

    /// The phases, in order; returns early (with `completed` false) when one does not finish in time.
    private func coordinate(
        total: Int,
        shared: Shared,
        tracker: inout Tracker,
        report: inout StormReport,
        progress: @Sendable (String) -> Void
    ) async {
        progress("connecting \(total) members")
        let joinedAll = await tracker.wait(until: .now + plan.joinTimeout) { $0.joined + $0.failed >= total }
        report.joined = tracker.counts.joined
        report.joinSeconds = seconds(tracker.counts.lastJoin.map { $0 - shared.start } ?? .zero)
        guard joinedAll, tracker.counts.failed == 0 else {
            report.firstError = report.firstError ?? "only \(report.joined) of \(total) members joined"
            return
        }
        progress("\(total) joined; sending \(history) messages to each room")
        shared.allJoined.open()
        guard await tracker.wait(until: .now + plan.joinTimeout, { $0.caughtUp >= total }) else {
            report.firstError = "only \(tracker.counts.caughtUp) of \(total) members received the \(history) messages before the restart"
            return
        }
        progress("restarting the server")
        let restartStart = ContinuousClock.now
        do {
            try await restart()
        } catch {
            report.firstError = "the restart failed: \(error)"
            return
        }
        report.restartSeconds = seconds(.now - restartStart)
        let droppedAll = await tracker.wait(until: .now + plan.joinTimeout) { $0.dropped >= total }
        report.dropped = tracker.counts.dropped
        guard droppedAll else {
            report.firstError = "the restart left \(total - report.dropped) of \(total) connections open"
            return
        }
        progress("every connection dropped; sending \(missed) messages to each room")
        shared.announce.open()
        guard await tracker.wait(until: .now + plan.joinTimeout, { $0.announced >= plan.rooms || $0.failed > 0 }), tracker.counts.failed == 0 else {
            report.firstError = "only \(tracker.counts.announced) of \(plan.rooms) announcers sent their messages"
            return
        }
        progress("\(total) members reconnecting")
        let stormStart = ContinuousClock.now
        let cpuStart = ProcessCPU.seconds()
        shared.storm.open()
        let backAll = await tracker.wait(until: .now + plan.joinTimeout) { $0.rejoined + $0.failed >= total }
        report.rejoined = tracker.counts.rejoined
        report.allBackSeconds = seconds((tracker.counts.lastRejoin ?? stormStart) - stormStart)
        if report.allBackSeconds > 0 { report.cpuPercent = (ProcessCPU.seconds() - cpuStart) / report.allBackSeconds * 100 }
        let caughtUp = await tracker.wait(until: .now + plan.drain) { $0.done >= $0.rejoined }
        if caughtUp { report.caughtUpSeconds = seconds((tracker.counts.lastDone ?? stormStart) - stormStart) }
        report.behind = tracker.counts.rejoined - tracker.counts.done
        report.completed = backAll
    }

    private func seconds(_ duration: Duration) -> Double { Double(BenchClock.nanoseconds(duration)) / 1e9 }

    /// The only task that dials: first every member, then the announcers, then every member again, each
    /// waiting for a free slot of a source address (a slot frees when its dial gets a `welcome` or gives up).
    private func dial(total: Int, slots: AsyncStream<Int>, shared: Shared) async {
        var free = DialSlots(addresses: max(plan.sourceAddresses, 1), limit: plan.connectConcurrency)
        var finished = slots.makeAsyncIterator()
        func next() async -> Int? {
            while true {
                if let address = free.take() { return address }
                guard let address = await finished.next() else { return nil }
                free.free(address)
            }
        }
        await withTaskGroup(of: Void.self) { members in
            for index in 0..<total {
                guard let address = await next() else { return }
                members.addTask { await member(index, address: address, shared: shared) }
            }
            guard await shared.announce.wait() != nil else { return }
            for room in 0..<plan.rooms {
                guard let address = await next() else { return }
                members.addTask { await announcer(room, address: address, shared: shared) }
            }
            guard await shared.storm.wait() != nil else { return }
            for index in 0..<total {
                guard let address = await next() else { return }
                shared.goes[index].open(address)
            }
        }
    }

    /// One member: connects, receives the history, is dropped by the restart, comes back with `since` and
    /// `session`, receives what it missed, and holds on until the run stops.
    private func member(_ index: Int, address: Int, shared: Shared) async {
        let room = index / plan.membersPerRoom
        let number = index % plan.membersPerRoom
        let box = MemberBox(StormMember(room: room, roomCode: plan.roomCode(room), member: number, nick: plan.nick(number)))
        defer { shared.events.yield(.finished(box.state.withLock { $0 })) }
        let endpoint = plan.endpoint(room: room, member: number)
        let first = await connection(
            url: endpoint.webSocketURL(room: plan.roomCode(room), nick: plan.nick(number)),
            address: address,
            resuming: false,
            publishes: number == 0,
            box: box,
            shared: shared
        )
        guard case .dropped = first else { return }
        shared.events.yield(.dropped)
        guard let again = await shared.goes[index].wait(), shared.stop.value == nil else { return }
        let (since, session) = box.state.withLock { ($0.lastID, $0.session) }
        let second = await connection(
            url: endpoint.webSocketURL(room: plan.roomCode(room), nick: plan.nick(number), since: since, session: session),
            address: again,
            resuming: true,
            publishes: false,
            box: box,
            shared: shared
        )
        if case .dropped(let close) = second, shared.stop.value == nil {
            let reason = close.map { " (\($0))" } ?? ""
            shared.events.yield(
                .closedAfterResume("\(plan.roomCode(room)) member \(plan.nick(number)): closed by the server after resuming\(reason)")
            )
        }
    }
}
