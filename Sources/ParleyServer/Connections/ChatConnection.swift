import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// One client's session in a room.
///
/// ``start()`` admits it and sends `welcome`, in the task that accepted the socket. After that the
/// connection has no task: ``ChatSocketHandler`` hands it each command on the event loop, and what has
/// to wait for storage runs on ``ConnectionWork`` while the socket reads nothing more.
final class ChatConnection: Sendable {
    let hub: ChatHub
    let id: ConnectionID
    let outbox: Outbox
    let writer: OutboxWriter
    let channel: any Channel
    /// Its place in the ``ConnectionLimiter``, given back in ``ended()``.
    private let slot: ConnectionSlot?
    private let state = Mutex(State())
    private let rate: Mutex<RateLimiter>
    private let lastTyping = Mutex<ContinuousClock.Instant?>(nil)
    static let typingInterval = Duration.seconds(2)

    private struct State {
        /// Set once the member is in the room.
        var room: Room?
        /// The socket closed.
        var ended = false
    }

    /// Sent down the pipeline to ``ChatSocketHandler`` when the connection may take commands again.
    enum Event: Sendable {
        /// `welcome` is queued: commands may run.
        case ready
        /// A command that waited for storage has finished.
        case finished
        /// The join failed and a close is on its way: only the client's answer to it is still read.
        case refused
    }

    init(hub: ChatHub, id: ConnectionID, outbox: Outbox, channel: any Channel, slot: ConnectionSlot?) {
        self.hub = hub
        self.slot = slot
        self.id = id
        self.outbox = outbox
        self.channel = channel
        self.writer = OutboxWriter(outbox: outbox, channel: channel)
        self.rate = Mutex(RateLimiter(burst: hub.configuration.rateBurst, perSecond: hub.configuration.ratePerSecond))
        writer.start()
    }

    /// The hub's logger with this connection's id, built when something is logged: an idle member keeps no
    /// logger of its own (a `Logger` is 56 bytes).
    var logger: Logger {
        var logger = hub.logger
        logger[metadataKey: "connection"] = "\(id.value)"
        return logger
    }

    /// The room, once joined.
    var room: Room? { state.withLock { $0.room } }

    // MARK: joining and leaving

    /// Finds (or opens) the room, joins it and queues `welcome`; on a storage failure, tells the client and
    /// closes 1011. A room that is live here needs no storage read to be found.
    func start(_ request: ConnectRequest) async {
        let admitted: Room?
        do {
            admitted = try await hub.admitRoom(code: request.roomCode)
        } catch {
            // Storage stopped answering after the upgrade was granted: say so rather than just hang up.
            logger.warning("room lookup failed", metadata: ["error": "\(error)"])
            refuse()
            return
        }
        guard let room = admitted else {
            outbox.open(with: EventEncoder.encode(.error(code: .notFound, message: "no such room", clientID: nil)), coveredID: 0)
            outbox.drainAndClose(code: 1008, reason: "no such room")
            channel.pipeline.fireUserInboundEventTriggered(Event.refused)
            return
        }
        let admission: Room.Admission
        do {
            admission = try await join(room, request)
        } catch {
            logger.warning("could not join", metadata: ["room": "\(room.code)", "error": "\(error)"])
            if let cluster = hub.cluster {
                // A claim that timed out may have taken effect yet: undo it by connection id (if this fails
                // too, the heartbeat's reconcile removes the row of this closed connection).
                let (record, id) = (room.record, self.id)
                _ = hub.work.submit { await cluster.release(room: record, connection: id) }
            }
            hub.rooms.release(room)
            refuse()
            return
        }
        let stillOpen = state.withLock { state in
            if !state.ended { state.room = room }
            return !state.ended
        }
        guard stillOpen else {
            // The socket closed while joining: undo it here, as `ended()` found no room to leave.
            await leave(room)
            return
        }
        logger.debug("joined", metadata: ["room": "\(room.code)", "nick": "\(admission.nick)"])
        do {
            try await welcome(room, admission, since: request.since)
        } catch {
            logger.warning("could not read history", metadata: ["room": "\(room.code)", "error": "\(error)"])
            refuse()
        }
    }

    private func welcome(_ room: Room, _ admission: Room.Admission, since: Int64?) async throws {
        let configuration = hub.configuration
        let page =
            if let since {
                try await hub.store.messages(roomID: room.record.id, after: since, before: nil, limit: 1000, newest: true)
            } else {
                try await hub.store.messages(roomID: room.record.id, after: nil, before: nil, limit: configuration.historySize, newest: true)
            }
        room.anchor(after: page.lastID)
        var members = admission.members
        if let cluster = hub.cluster {
            members = try await cluster.members(roomID: room.record.id)
            // Its own nick is never remote, even if the member has already left again.
            room.seedRemote(members: members.filter { $0 != admission.nick })
        }
        let welcome = ServerEvent.Welcome(
            room: room.record.info,
            nick: admission.nick,
            session: admission.session.description,
            members: members,
            history: page.messages,
            lastID: page.lastID,
            truncated: page.hasMore,
            limits: configuration.clientLimits
        )
        outbox.open(with: EventEncoder.encode(.welcome(welcome)), coveredID: page.lastID)
        channel.pipeline.fireUserInboundEventTriggered(Event.ready)
    }

    /// Tells a client that storage is down, then closes 1011: an error it can act on, never a silent hang.
    private func refuse() {
        let refusal = ServerEvent.error(code: .unavailable, message: "storage is unavailable; try again", clientID: nil)
        outbox.open(with: EventEncoder.encode(refusal), coveredID: 0)
        outbox.drainAndClose(code: 1011, reason: "storage unavailable")
        channel.pipeline.fireUserInboundEventTriggered(Event.refused)
    }

    /// Takes a nick: in the room alone on one node, or reserved cluster-wide first.
    private func join(_ room: Room, _ request: ConnectRequest) async throws -> Room.Admission {
        guard let cluster = hub.cluster else {
            return room.join(id, requestedNick: request.nick, session: request.session, outbox: outbox)
        }
        // The reserved row announces the join to the other nodes (the members trigger).
        let claim = try await cluster.claim(room: room.record, requested: request.nick, session: request.session, connection: id)
        return room.join(id, claimed: claim.nick, session: claim.session, announce: !claim.tookOver, outbox: outbox)
    }

    /// The socket closed: the member leaves (and is released cluster-wide by a worker).
    func ended() {
        slot?.release()
        hub.connections.remove(id)
        hub.metrics.connections.decrement()
        outbox.finish()
        let room: Room? = state.withLock { state in
            state.ended = true
            defer { state.room = nil }
            return state.room
        }
        guard let room else { return }
        if hub.cluster == nil {
            room.leave(id)
            hub.rooms.release(room)
            return
        }
        let queued = hub.work.submit { await self.leave(room) }
        if !queued {
            // The next heartbeat reconciles the member's row.
            room.leave(id)
            hub.rooms.release(room)
            hub.cluster?.releaseFailed.store(true, ordering: .relaxed)
        }
    }

    private func leave(_ room: Room) async {
        if room.leave(id) != nil, let cluster = hub.cluster {
            await cluster.release(room: room.record, connection: id)
        }
        hub.rooms.release(room)
    }

    // MARK: commands

    /// Handles one text frame on the event loop. Returns false when the command went to ``ConnectionWork``:
    /// then the handler takes no other command until ``Event/finished`` comes down the pipeline.
    func receive(_ text: String) -> Bool {
        guard let room else { return true }
        var clientID: String?
        do {
            let command = try ClientCommand.parse(frame: text)
            if case .message(_, let id) = command { clientID = id }
            return try handle(command, in: room)
        } catch {
            hub.metrics.refused(error.code)
            send(.error(code: error.code, message: error.message, clientID: clientID))
            return true
        }
    }

    private func handle(_ command: ClientCommand, in room: Room) throws(ProtocolError) -> Bool {
        switch command {
        case .message(let text, let clientID):
            return try post(text: text, clientID: clientID, in: room)
        case .typing:
            let now = ContinuousClock.now
            let relay = lastTyping.withLock { last in
                if let previous = last, now - previous < Self.typingInterval { return false }
                last = now
                return true
            }
            guard relay else { return true }
            room.typing(id)
            if let cluster = hub.cluster, let nick = room.nick(of: id) {
                var notice = ClusterNotice(.typing, room: room.code, node: cluster.node)
                notice.nick = nick
                // Nothing waits for it: a lost typing notice costs nothing.
                _ = hub.work.submit { [notice] in await cluster.publish(notice) }
            }
            return true
        case .nick(let raw):
            let nick = try Nick.normalize(raw)
            guard let cluster = hub.cluster else {
                try room.rename(id, to: nick)
                return true
            }
            guard room.nick(of: id) != nick else { return true }
            return wait(clientID: nil) {
                try await cluster.rename(room: room.record, connection: self.id, to: nick)
                try room.rename(self.id, to: nick)
            }
        case .history(let before, let limit):
            let limit = limit ?? 50
            guard (1...200).contains(limit) else { throw ProtocolError(.badRequest, "limit must be 1-200") }
            return wait(clientID: nil) {
                let page = try await self.hub.store.messages(roomID: room.record.id, after: nil, before: before, limit: limit, newest: true)
                self.send(.history(messages: page.messages, hasMore: page.hasMore))
            }
        case .ping:
            send(.pong)
            return true
        }
    }

    /// Validates, rate-limits and queues a message. A resend (same `client_id`) is answered to this
    /// connection alone with the original and costs no rate-limit token.
    private func post(text: String, clientID: String?, in room: Room) throws(ProtocolError) -> Bool {
        let text = try MessageText.validate(text, maxBytes: hub.configuration.maxMessageBytes)
        let allowed = rate.withLock { $0.take() == .allow }
        if !allowed {
            guard let clientID else {
                try refuseRate()
                return true
            }
            return wait(clientID: clientID) {
                if let original = try await self.hub.store.message(roomID: room.record.id, clientID: clientID) {
                    guard original.text == text else { throw Self.clientIDTaken }
                    self.send(.message(original))
                } else {
                    try self.refuseRate()
                }
            }
        }
        guard let nick = room.nick(of: id) else { return true }
        let completion = committed(clientID: clientID)
        if hub.offer(room: room.record, nick: nick, text: text, clientID: clientID, completion: completion) {
            hub.logger.trace("message queued", metadata: ["connection": "\(id.value)", "room": "\(room.code)"])
            // Behind a slow disk: read nothing more until the store has room again.
            guard hub.store.isBacklogged else { return true }
            return wait(clientID: nil) { await self.hub.store.waitForRoom() }
        }
        // The store cannot take it now (PostgreSQL's commit queue is full, or the store has stopped): wait in
        // its queue, reading nothing more meanwhile.
        return wait(clientID: clientID) {
            try await self.hub.submit(room: room.record, nick: nick, text: text, clientID: clientID, completion: completion)
        }
    }

    private func refuseRate() throws(ProtocolError) {
        if rate.withLock({ $0.refuse() }) == .close {
            outbox.closeNow(code: 1008, reason: "rate limit exceeded")
            return
        }
        throw ProtocolError(.rateLimited, "too many messages; slow down")
    }

    private func committed(clientID: String?) -> @Sendable (AppendResult) -> Void {
        { result in
            switch result {
            case .stored:
                break
            case .duplicate(let original):
                self.rate.withLock { $0.refund() }
                self.send(.message(original))
            case .conflict:
                self.hub.metrics.refused(.badRequest)
                self.send(.error(code: .badRequest, message: Self.clientIDTaken.message, clientID: clientID))
            case .noRoom:
                self.send(.error(code: .notFound, message: "the room no longer exists", clientID: clientID))
            case .failed:
                self.send(.error(code: .unavailable, message: "the message could not be stored; resend it", clientID: clientID))
            }
        }
    }

    /// A `client_id` already stored in the room with other text: only the same message may be resent.
    static let clientIDTaken = ProtocolError(.badRequest, "client_id is already used by another message in this room")

    /// Runs `command` on a worker and tells the handler when it is done. A protocol error is answered as
    /// usual; any other failure means storage did not answer: the command fails, the connection stays.
    private func wait(clientID: String?, _ command: @escaping @Sendable () async throws -> Void) -> Bool {
        let queued = hub.work.submit {
            do {
                try await command()
            } catch let error as ProtocolError {
                self.hub.metrics.refused(error.code)
                self.send(.error(code: error.code, message: error.message, clientID: clientID))
            } catch {
                self.logger.warning("command failed", metadata: ["error": "\(error)"])
                self.hub.metrics.refused(.unavailable)
                self.send(.error(code: .unavailable, message: "storage is unavailable; try again", clientID: clientID))
            }
            self.channel.pipeline.fireUserInboundEventTriggered(Event.finished)
        }
        if !queued {
            hub.metrics.refused(.unavailable)
            send(.error(code: .unavailable, message: "the server is busy; try again", clientID: clientID))
        }
        return !queued
    }

    private func send(_ event: ServerEvent) {
        enqueue(EventEncoder.encode(event))
    }

    /// Queues a frame for this client alone; an overflow cuts it off as a slow consumer, counted here.
    func enqueue(_ frame: ByteBuffer) {
        if outbox.enqueue(frame) == .overflowed {
            hub.metrics.slowConsumersClosed.increment()
        }
    }
}
