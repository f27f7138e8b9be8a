import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// One client's session in a room.
///
/// ``joinAtUpgrade(_:)`` joins it to a live room on the event loop, ``openAtUpgrade(_:)`` opens a new room from
/// there, or ``start(_:room:grant:joined:)`` joins it in the task that accepted the socket (or in a
/// ``ConnectionWork`` job after an open from the loop); that task then sends `welcome`. After that the
/// connection has no task:
/// ``ChatSocketHandler`` hands it each command on the event loop, and what has to wait for storage runs on
/// ``ConnectionWork`` while the socket reads nothing more.
final class ChatConnection: Sendable {
    let context: ConnectionContext
    let id: ConnectionID
    let outbox: Outbox
    let writer: OutboxWriter
    let channel: any Channel
    /// Who its token proved it is (§13); nil for an anonymous member.
    var identity: VerifiedIdentity? { verified?.identity }
    /// Boxed: most members have none, and the value inline would make every connection bigger.
    private let verified: Verified?
    /// Its place in the ``ConnectionLimiter``, given back in ``ended()``.
    private let slot: ConnectionSlot?
    private let state = Mutex(State())
    let rate: Mutex<RateLimiter>
    /// Its role in the room (§12): one atomic load where a message is checked.
    let role = ConnectionRole()
    static let typingInterval = Duration.seconds(2)

    private struct State {
        /// Set once the member is in the room.
        var room: Room?
        /// The socket closed.
        var ended = false
        /// Its session's author key (§11), worked out on first use.
        var author: AuthorKey?
        /// The `Host` an owner reached the server by, for the links it hands out (§12); nil for anyone else.
        /// The rest of what admission decided goes to the room (``enrol(in:_:grant:)``) and the role cell.
        var host: String?
        /// When its last `typing` was relayed.
        var lastTyping: ContinuousClock.Instant?
    }

    private final class Verified: Sendable {
        let identity: VerifiedIdentity

        init(_ identity: VerifiedIdentity) {
            self.identity = identity
        }
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

    init(context: ConnectionContext, id: ConnectionID, outbox: Outbox, channel: any Channel, slot: ConnectionSlot?, identity: VerifiedIdentity? = nil)
    {
        self.context = context
        self.verified = identity.map(Verified.init)
        self.slot = slot
        self.id = id
        self.outbox = outbox
        self.channel = channel
        self.writer = OutboxWriter(outbox: outbox, channel: channel)
        self.rate = Mutex(RateLimiter(burst: context.configuration.rateBurst, perSecond: context.configuration.ratePerSecond))
        writer.start()
    }

    /// The server's logger with this connection's id, built when something is logged: an idle member keeps no
    /// logger of its own.
    var logger: Logger {
        var logger = context.logger
        logger[metadataKey: "connection"] = "\(id.value)"
        return logger
    }

    /// The verified subject (§13) this connection acts as; nil for an anonymous member. Bans name it.
    var subject: String? { identity?.subject }

    /// Whether a `typing` notice at `now` is relayed: at most one per ``typingInterval``.
    func relaysTyping(at now: ContinuousClock.Instant) -> Bool {
        state.withLock { state in
            if let previous = state.lastTyping, now - previous < Self.typingInterval { return false }
            state.lastTyping = now
            return true
        }
    }

    /// The room, once joined.
    var room: Room? { state.withLock { $0.room } }

    /// The `Host` an owner connected by; nil for anyone else.
    var host: String? { state.withLock { $0.host } }

    /// The author key of this member's session, and whether it is the first use on this connection (the
    /// change or message then saves the session, so it outlives a restart).
    func authorship(in room: Room) -> (author: AuthorKey, savesSession: Bool)? {
        if let identity { return (AuthorKey(subject: identity.subject), false) }
        if let known = state.withLock({ $0.author }) { return (known, false) }
        guard let secret = room.session(of: id) else { return nil }
        let author = AuthorKey(secret)
        state.withLock { $0.author = author }
        return (author, true)
    }

    // MARK: joining and leaving

    /// Joins a room that is live here, on the event loop in the tick that upgraded the socket, when nothing has
    /// to be read or claimed first (no cluster, a session this process knows, one the room has read already, or
    /// none): the other members hear of it without waiting for the socket's task to be scheduled, and the task
    /// only sends `welcome`. Nil when ``openAtUpgrade(_:)`` or ``start(_:room:grant:joined:)`` has to join.
    func joinAtUpgrade(_ admitted: Admission.Admitted) -> Room.Joined? {
        let request = admitted.request
        // A verified member may share its nick with its other connections: ``start`` joins it.
        guard context.cluster == nil, identity == nil else { return nil }
        guard let room = context.rooms.acquireLive(code: request.roomCode) else { return nil }
        if let secret = request.session, context.store.supportsLivingMessages, !room.knows(secret) {
            guard let nick = room.saved.take(AuthorKey(secret)) else {
                context.rooms.release(room)
                return nil
            }
            room.restore(secret, nick: nick)
        }
        take(admitted.grant)
        let joined = room.join(id, requestedNick: request.nick, session: request.session, outbox: outbox)
        guard entered(room) else {
            room.leave(id)
            context.rooms.release(room)
            return nil
        }
        enrol(in: room, joined, grant: admitted.grant)
        return joined
    }

    /// Opens a room that has no members here, for a member ``joinAtUpgrade(_:)`` could not join, without a task:
    /// open rooms on one node, an anonymous member, and a store that answers on its own thread. The writer
    /// answers; the member joins and is greeted on its event loop (``opened(_:_:)``). In a storm of connects to
    /// new codes the socket's task, with its hops, cost more than the room's row. False when ``start`` has to
    /// open (the room is live, or being opened or forgotten, or this setup needs a read or a claim first).
    func openAtUpgrade(_ admitted: Admission.Admitted) -> Bool {
        let code = admitted.request.roomCode
        guard context.cluster == nil, identity == nil, admitted.room == nil, context.configuration.roomCreation == .open,
            context.store.opensRoomsWithCompletion
        else { return false }
        guard context.rooms.beginOpen(code: code) else { return false }
        take(admitted.grant)
        let loop = channel.eventLoop
        // If the loop has shut down, the answer is dropped and the code stays opening: only at shutdown.
        let asked = context.store.openRoom(code: code) { result in
            loop.execute { self.opened(result, admitted) }
        }
        if !asked { context.rooms.opened(code: code, record: nil) }
        return asked
    }

    /// The writer's answer to ``openAtUpgrade(_:)``, on the event loop. A room the open inserted has its
    /// default settings and no history and no saved session to read, so the member joins and is greeted here.
    /// Any other room frees the code and goes to ``start`` as a ``ConnectionWork`` job, which opens it again
    /// and reads what it needs (the record is not kept: the room could be forgotten meanwhile). After a failed
    /// open the job only reads, as ``MessageStore/openRoom(code:)`` does: a stored room is joined, a new code
    /// refused. A socket that closed meanwhile lets its room go at once.
    private func opened(_ result: Result<RoomRecord, any Error>, _ admitted: Admission.Admitted) {
        let request = admitted.request
        let code = request.roomCode
        let gone = state.withLock { $0.ended }
        guard case .success(let record) = result, record.fresh else {
            context.rooms.opened(code: code, record: nil)
            guard !gone else { return }
            let failed = if case .failure = result { true } else { false }
            let job: ConnectionWork.Job = { [context] in
                var stored: RoomRecord?
                if failed {
                    guard let found = try? await context.store.room(code: code) else { return self.refuse() }
                    stored = found
                }
                await self.start(request, room: stored, grant: admitted.grant)
            }
            if !context.work.submit(job) { refuse() }
            return
        }
        guard let room = context.rooms.opened(code: code, record: record) else { return }
        guard !gone else { return context.rooms.release(room) }
        let joined = room.join(id, requestedNick: request.nick, session: request.session, outbox: outbox)
        guard entered(room) else {
            room.leave(id)
            context.rooms.release(room)
            return
        }
        enrol(in: room, joined, grant: admitted.grant)
        // Unless a commit for the code went by while it opened, nothing is stored in it: no read.
        guard welcomeWithoutReading(room, joined, request) else {
            if !context.work.submit({ await self.greet(room, joined, request) }) { refuse() }
            return
        }
        joinedBy(room, joined, request)
    }

    /// Keeps the room the member joined; false when the socket closed meanwhile (`ended()` found no room).
    private func entered(_ room: Room) -> Bool {
        state.withLock { state in
            if !state.ended { state.room = room }
            return !state.ended
        }
    }

    /// Keeps what admission decided that the connection itself needs (§12, §13): the role, and an owner's host.
    private func take(_ grant: Admission.Grant) {
        // Only an owner hands out links, which need the host; nobody else keeps it.
        let host = grant.role == .owner ? grant.host : nil
        state.withLock { $0.host = host }
        role.set(grant.role)
    }

    /// Tells the room what moderation needs to know of the member who just joined.
    private func enrol(in room: Room, _ joined: Room.Joined, grant: Admission.Grant) {
        room.admit(
            id,
            traits: MemberTraits(role: role, byModeratorKey: grant.byModeratorKey, subject: grant.subject, address: grant.address)
        )
    }

    /// Finds (or opens) the room and joins it, unless ``joinAtUpgrade(_:)`` did (`joined`), then queues
    /// `welcome`; on a storage failure, tells the client and closes 1011. A room that is live here, or that the
    /// admission read (api mode), needs no storage read.
    func start(
        _ request: ConnectRequest,
        room record: RoomRecord?,
        grant: Admission.Grant = .init(),
        joined early: Room.Joined? = nil
    ) async {
        if let early {
            // The socket may have closed since the upgrade: then the member has left already.
            guard let room else { return }
            await greet(room, early, request)
            return
        }
        take(grant)
        let admitted: Room?
        do {
            admitted = try await context.rooms.acquire(code: request.roomCode) { [context] in
                // In api mode the admission has read the room already.
                var found = record
                if found == nil {
                    switch context.configuration.roomCreation {
                    case .open: found = try await context.store.openRoom(code: request.roomCode)
                    case .api: found = try await context.store.room(code: request.roomCode)
                    }
                }
                // A room just opened has its default settings; any other may have been changed (§12).
                if var stored = found, !stored.ephemeral, stored.settings == nil {
                    stored.settings = try await context.store.roomSettings(roomID: stored.id)
                    found = stored
                }
                return found
            }
        } catch {
            // Storage stopped answering after the upgrade was granted: say so rather than just hang up.
            logger.warning("room lookup failed", metadata: ["error": "\(error)"])
            refuse()
            return
        }
        guard let room = admitted else {
            outbox.open(with: EventEncoder.encode(.error(code: .notFound, message: "no such room", clientID: nil)), coveredID: 0)
            outbox.drainAndClose(code: CloseCode.policyViolation.rawValue, reason: "no such room")
            channel.pipeline.fireUserInboundEventTriggered(Event.refused)
            return
        }
        let joined: Room.Joined
        do {
            joined = try await join(room, request)
        } catch {
            logger.warning("could not join", metadata: ["room": "\(room.code)", "error": "\(error)"])
            if let cluster = context.cluster {
                // A claim that timed out may have taken effect yet: undo it by connection id (if this fails
                // too, the heartbeat's reconcile removes the row of this closed connection).
                let (record, id) = (room.record, self.id)
                _ = context.work.submit { await cluster.release(room: record, connection: id) }
            }
            context.rooms.release(room)
            refuse()
            return
        }
        guard entered(room) else {
            // The socket closed while joining: undo it here, as `ended()` found no room to leave.
            await leave(room)
            return
        }
        enrol(in: room, joined, grant: grant)
        await greet(room, joined, request)
    }

    /// Reads the history and queues `welcome`, or refuses when storage fails.
    private func greet(_ room: Room, _ joined: Room.Joined, _ request: ConnectRequest) async {
        joinedBy(room, joined, request)
        if welcomeWithoutReading(room, joined, request) { return }
        do {
            try await welcome(room, joined, since: request.since, rev: request.rev)
        } catch {
            logger.warning("could not read history", metadata: ["room": "\(room.code)", "error": "\(error)"])
            refuse()
        }
    }

    /// Sends `welcome` in the upgrade, for a member ``joinAtUpgrade(_:)`` joined, when no read is needed
    /// (``welcomeWithoutReading(_:_:_:)``): then the socket's task has nothing left to do. False when ``start``
    /// has to.
    func greetAtUpgrade(_ joined: Room.Joined, _ request: ConnectRequest) -> Bool {
        guard let room, welcomeWithoutReading(room, joined, request) else { return false }
        joinedBy(room, joined, request)
        return true
    }

    /// Sends `welcome` when storage need not answer: the room's cache of recent messages answers exactly, or
    /// this process's open inserted the room and nothing went by since (its history is empty). Single node
    /// only; false when storage must answer.
    private func welcomeWithoutReading(_ room: Room, _ joined: Room.Joined, _ request: ConnectRequest) -> Bool {
        if let recent = cachedPage(room, request) {
            welcome(room, joined, request, from: recent)
            return true
        }
        guard context.cluster == nil, let untouched = room.historyIfUntouched() else { return false }
        room.anchor(with: untouched, after: request.since)
        let resuming = request.since != nil && request.rev != nil
        let resumed = resuming ? ResumePage(history: untouched, updates: [], updatesTruncated: false) : nil
        sendWelcome(room, joined, page: untouched, resumed: resumed, members: joined.members, verified: joined.verified)
        return true
    }

    /// What follows every join: the debug line, and a new session saved.
    private func joinedBy(_ room: Room, _ joined: Room.Joined, _ request: ConnectRequest) {
        // The connection's logger is built on demand: not for every join when nothing would be logged.
        if context.logger.logLevel <= .debug {
            logger.debug("joined", metadata: ["room": "\(room.code)", "nick": "\(joined.nick)"])
        }
        if context.store.supportsLivingMessages, joined.session != request.session {
            // A new session is saved at once, so it outlives a restart even if it never posts (§11). Best effort:
            // with the queue full, its first message or change saves it.
            var save = PendingMessage(roomID: room.record.id, nick: joined.nick, text: "", ts: .now(), clientID: nil) { _ in }
            save.author = AuthorKey(joined.session)
            save.onlySession = true
            _ = context.store.offer(save)
        }
    }

    /// The page `welcome` shows, when the room is live and its cache answers exactly (no storage read).
    private func cachedPage(_ room: Room, _ request: ConnectRequest) -> RecentMessages.Page? {
        guard context.cluster == nil else { return nil }
        let limit = request.since == nil ? context.configuration.historySize : Limits.resumedHistoryMessages
        return room.recentPage(after: request.since, clientRev: request.since == nil ? nil : request.rev, limit: limit)
    }

    /// Opens the outbox with `welcome` from the room's recent messages.
    private func welcome(_ room: Room, _ joined: Room.Joined, _ request: ConnectRequest, from recent: RecentMessages.Page) {
        // A client resuming with `rev` missed no change (else the cache does not answer).
        let resuming = request.since != nil && request.rev != nil
        let welcome = ServerEvent.Welcome(
            room: room.info,
            nick: joined.nick,
            session: joined.session.description,
            members: joined.members,
            history: [],
            lastID: recent.lastID,
            truncated: recent.hasMore,
            limits: context.configuration.clientLimits,
            rev: recent.rev,
            updates: resuming ? [] : nil,
            updatesTruncated: resuming ? false : nil,
            role: role.role,
            verifiedMembers: joined.verified.isEmpty ? nil : joined.verified
        )
        outbox.open(with: EventEncoder.encode(welcome, encodedHistory: recent.history), coveredID: recent.lastID)
        channel.pipeline.fireUserInboundEventTriggered(Event.ready)
    }

    /// `welcome` from storage (after ``welcomeWithoutReading(_:_:_:)`` found it must).
    private func welcome(_ room: Room, _ joined: Room.Joined, since: Int64?, rev: Int64?) async throws {
        let configuration = context.configuration
        var resumed: ResumePage?
        if let since, let rev {
            resumed = try await context.store.resume(
                roomID: room.record.id,
                since: since,
                rev: rev,
                limit: Limits.resumedHistoryMessages,
                updateLimit: Limits.resumedUpdates
            )
        }
        var page =
            if let resumed {
                resumed.history
            } else if let since {
                try await context.store.messages(
                    roomID: room.record.id,
                    after: since,
                    before: nil,
                    limit: Limits.resumedHistoryMessages,
                    newest: true
                )
            } else {
                // One more than the welcome shows, so that the room's cache can tell the next joiner there are more.
                try await context.store.messages(roomID: room.record.id, after: nil, before: nil, limit: configuration.historySize + 1, newest: true)
            }
        room.anchor(with: page, after: since)
        if since == nil, page.messages.count > configuration.historySize {
            page.messages.removeFirst(page.messages.count - configuration.historySize)
            page.hasMore = true
        }
        var members = joined.members
        var verified = joined.verified
        if let cluster = context.cluster {
            (members, verified) = try await cluster.roster(roomID: room.record.id)
            // Its own nick is never remote, even if the member has already left again.
            room.seedRemote(members: members.filter { $0 != joined.nick })
        }
        sendWelcome(room, joined, page: page, resumed: resumed, members: members, verified: verified)
    }

    /// Opens the outbox with `welcome`, its history read (or known) already.
    private func sendWelcome(
        _ room: Room,
        _ joined: Room.Joined,
        page: MessagePage,
        resumed: ResumePage?,
        members: [String],
        verified: [String]
    ) {
        let welcome = ServerEvent.Welcome(
            room: room.info,
            nick: joined.nick,
            session: joined.session.description,
            members: members,
            history: page.messages,
            lastID: page.lastID,
            truncated: page.hasMore,
            limits: context.configuration.clientLimits,
            rev: page.rev,
            updates: resumed?.updates,
            updatesTruncated: resumed?.updatesTruncated,
            role: role.role,
            verifiedMembers: verified.isEmpty ? nil : verified
        )
        outbox.open(with: EventEncoder.encode(.welcome(welcome)), coveredID: page.lastID)
        channel.pipeline.fireUserInboundEventTriggered(Event.ready)
    }

    /// Tells a client that storage is down, then closes 1011: an error it can act on, never a silent hang.
    private func refuse() {
        let refusal = ServerEvent.error(code: .unavailable, message: "storage is unavailable; try again", clientID: nil)
        outbox.open(with: EventEncoder.encode(refusal), coveredID: 0)
        outbox.drainAndClose(code: CloseCode.internalError.rawValue, reason: "storage unavailable")
        channel.pipeline.fireUserInboundEventTriggered(Event.refused)
    }

    /// Takes a nick: in the room alone on one node, or reserved cluster-wide first.
    private func join(_ room: Room, _ request: ConnectRequest) async throws -> Room.Joined {
        if identity == nil, let secret = request.session, context.store.supportsLivingMessages, !room.knows(secret) {
            // A session this process never handed out may be one a previous run saved (§11: authorship outlives
            // a restart): taken back under its saved nick. Alone on its node, the room reads them all at once.
            let author = AuthorKey(secret)
            var nick: String?
            if context.cluster == nil {
                let (store, roomID) = (context.store, room.record.id)
                nick = await room.saved.take(author) { try await store.savedSessions(roomID: roomID, limit: SavedSessions.limit) }
            }
            if nick == nil { nick = try await context.store.session(roomID: room.record.id, author: author) }
            if let nick { room.restore(secret, nick: nick) }
        }
        guard let cluster = context.cluster else {
            if let identity { return room.join(id, verified: identity, outbox: outbox) }
            return room.join(id, requestedNick: request.nick, session: request.session, outbox: outbox)
        }
        // The reserved row announces the join to the other nodes (the members trigger). A verified subject's
        // connections share one row wherever they are.
        if let identity {
            let claim = try await cluster.claim(room: room.record, subject: identity.subject, nick: identity.nick, connection: id)
            return room.join(id, verified: identity, nick: claim.nick, announce: !claim.shared, outbox: outbox)
        }
        let claim = try await cluster.claim(
            room: room.record,
            requested: request.nick,
            session: request.session,
            connection: id
        )
        return room.join(id, claimed: claim.nick, session: claim.session, announce: !claim.tookOver, outbox: outbox)
    }

    /// The socket closed: the member leaves (and is released cluster-wide by a worker).
    func ended() {
        slot?.release()
        context.directory.remove(id)
        context.metrics.connections.decrement()
        outbox.finish()
        let room: Room? = state.withLock { state in
            state.ended = true
            defer { state.room = nil }
            return state.room
        }
        guard let room else { return }
        if context.cluster == nil {
            room.leave(id)
            context.rooms.release(room)
            return
        }
        let queued = context.work.submit { await self.leave(room) }
        if !queued {
            // The next heartbeat reconciles the member's row.
            room.leave(id)
            context.rooms.release(room)
            context.cluster?.releaseFailed.store(true, ordering: .relaxed)
        }
    }

    private func leave(_ room: Room) async {
        // A verified subject leaves only when the cluster lets its last connection go, wherever that was.
        let verified = identity != nil
        if let nick = room.leave(id, announce: !verified), let cluster = context.cluster {
            if await cluster.release(room: room.record, connection: id), verified { room.announceLeave(nick) }
        }
        context.rooms.release(room)
    }
}
