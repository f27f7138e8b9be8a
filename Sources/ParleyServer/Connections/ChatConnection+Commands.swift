import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// The commands a joined member sends, handled on the socket's event loop.
extension ChatConnection {
    /// What became of a command, for ``ChatSocketHandler``.
    enum CommandResult {
        /// Done (or refused): the next command may run.
        case finished
        /// It went to ``ConnectionWork``: the handler takes no other command until ``Event/finished`` comes
        /// down the pipeline.
        case waiting
    }

    /// Handles one text frame on the event loop.
    func receive(_ text: String) -> CommandResult {
        guard let room else { return .finished }
        var clientID: String?
        do {
            let command = try ClientCommand.parse(frame: text)
            if case .message(_, let id, _, _) = command { clientID = id }
            return try handle(command, in: room)
        } catch {
            context.metrics.refused(error.code)
            send(.error(code: error.code, message: error.message, clientID: clientID))
            return .finished
        }
    }

    private func handle(_ command: ClientCommand, in room: Room) throws(ProtocolError) -> CommandResult {
        switch command {
        case .message(let text, let clientID, let replyTo, let attachments):
            return try post(text: text, clientID: clientID, replyTo: replyTo, attachments: attachments, in: room)
        case .edit(let id, let text):
            let text = try MessageText.validate(text, maxBytes: context.configuration.maxMessageBytes)
            return try change(.edit(id: id, text: text), in: room)
        case .delete(let id):
            return try change(.delete(id: id), in: room)
        case .react(let id, let emoji):
            return try change(.react(id: id, emoji: emoji), in: room)
        case .unreact(let id, let emoji):
            return try change(.unreact(id: id, emoji: emoji), in: room)
        case .typing:
            guard relaysTyping(at: .now) else { return .finished }
            room.typing(id)
            if let cluster = context.cluster, let nick = room.nick(of: id) {
                var notice = ClusterNotice(.typing, room: room.code, node: cluster.node)
                notice.nick = nick
                // Nothing waits for it: a lost typing notice costs nothing.
                _ = context.work.submit { [notice] in await cluster.publish(notice) }
            }
            return .finished
        case .nick(let raw):
            // A verified nick is the token's (§13): a new one comes with a new token.
            if identity != nil { throw ProtocolError(.forbidden, "a verified member's nick comes from its token") }
            let nick = try Nick.normalize(raw)
            // Every member is sent each rename: unlimited, one client's loop would flood them all.
            guard rate.withLock({ $0.take() == .allow }) else {
                try refuseRate()
                return .finished
            }
            guard let cluster = context.cluster else {
                try room.rename(id, to: nick)
                return .finished
            }
            guard room.nick(of: id) != nick else { return .finished }
            return wait(clientID: nil) {
                try await cluster.rename(room: room.record, connection: self.id, to: nick)
                try room.rename(self.id, to: nick)
            }
        case .history(let before, let limit):
            let limit = try Limits.historyPageSize(limit)
            return wait(clientID: nil) {
                let page = try await self.context.store.messages(roomID: room.record.id, after: nil, before: before, limit: limit, newest: true)
                self.send(.history(messages: page.messages, hasMore: page.hasMore))
            }
        case .ping:
            send(.pong)
            return .finished
        case .kick, .ban, .unban, .bans, .room, .moderatorKey, .revokeModeratorKeys:
            return try moderate(command, in: room)
        }
    }

    /// Validates, rate-limits and queues a message. A resend (same `client_id`) is answered to this
    /// connection alone with the original and costs no rate-limit token and no slow-mode time (§5, §12): both
    /// limit new messages, not the answer to one already stored.
    private func post(text: String, clientID: String?, replyTo: Int64?, attachments: [String], in room: Room) throws(ProtocolError) -> CommandResult {
        let text = try MessageText.validate(text, maxBytes: context.configuration.maxMessageBytes, attachments: attachments.count)
        if replyTo != nil { try requireLivingMessages() }
        var pass: RoomRules.SlowModePass?
        if room.restricted.load(ordering: .relaxed) {
            do {
                pass = try checkRules(in: room)
            } catch {
                // Slow mode is a rate limit; a locked room refuses even what it already holds.
                guard let clientID, error.code == .rateLimited else { throw error }
                // Looking the id up reads storage: it costs a token, handed back when it finds a resend.
                guard rate.withLock({ $0.take() == .allow }) else {
                    try refuseRate()
                    return .finished
                }
                return answerResend(clientID, text: text, attachments: attachments, in: room, refunding: true) { throw error }
            }
        }
        let rules = context.moderation.rules
        if !attachments.isEmpty, !context.store.supportsFiles {
            rules.withdraw(pass)
            throw ProtocolError(.badRequest, StorageError.files)
        }
        let allowed = rate.withLock { $0.take() == .allow }
        if !allowed {
            rules.withdraw(pass)
            guard let clientID else {
                try refuseRate()
                return .finished
            }
            return answerResend(clientID, text: text, attachments: attachments, in: room) { try self.refuseRate() }
        }
        guard let nick = room.nick(of: id) else {
            rules.withdraw(pass)
            return .finished
        }
        var message = PendingMessage(
            roomID: room.record.id,
            nick: nick,
            text: text,
            ts: .now(),
            clientID: clientID,
            completion: committed(clientID: clientID, slowMode: pass)
        )
        message.delivery = RoomDelivery(rooms: context.rooms, code: room.code)
        message.replyTo = replyTo
        message.attachments = attachments
        message.verified = identity != nil
        if context.store.supportsLivingMessages, let authorship = authorship(in: room) {
            message.author = authorship.author
            message.savesSession = authorship.savesSession
        }
        return queue(message, slowMode: pass)
    }

    /// Queues a change to a stored message (§11) behind this connection's messages; it costs a rate-limit token
    /// like a message.
    private func change(_ change: MessageChange, in room: Room) throws(ProtocolError) -> CommandResult {
        try requireLivingMessages()
        // A locked room takes no edits or reactions from members either (§12), but a member may still take its own
        // words or reaction back; slow mode counts messages only.
        if room.restricted.load(ordering: .relaxed), room.settings.locked, !role.role.moderates, change.adds { throw RoomRules.locked }
        guard rate.withLock({ $0.take() == .allow }) else {
            try refuseRate()
            return .finished
        }
        guard let nick = room.nick(of: id), let authorship = authorship(in: room) else { return .finished }
        var message = PendingMessage(
            roomID: room.record.id,
            nick: nick,
            text: "",
            ts: .now(),
            clientID: nil,
            completion: changed()
        )
        message.delivery = RoomDelivery(rooms: context.rooms, code: room.code)
        message.author = authorship.author
        message.savesSession = authorship.savesSession
        message.change = change
        // Owners and moderators may delete any message (§11, §12); the store checks authorship otherwise.
        message.byModerator = role.role.moderates
        return queue(message)
    }

    private func requireLivingMessages() throws(ProtocolError) {
        guard context.store.supportsLivingMessages else { throw ProtocolError(.badRequest, StorageError.livingMessages) }
    }

    /// A slow-mode `pass` is handed back when the message never reaches storage.
    private func queue(_ message: PendingMessage, slowMode pass: RoomRules.SlowModePass? = nil) -> CommandResult {
        let clientID = message.clientID
        if context.store.offer(message) {
            context.logger.trace("message queued", metadata: ["connection": "\(id.value)", "room": "\(message.roomID)"])
            // Behind a slow disk: read nothing more until the store has room again.
            guard context.store.isBacklogged else { return .finished }
            return wait(clientID: nil) { await self.context.store.waitForRoom() }
        }
        // The store cannot take it now (PostgreSQL's commit queue is full, or the store has stopped): wait in
        // its queue, reading nothing more meanwhile.
        let rules = context.moderation.rules
        let result = wait(clientID: clientID) {
            do {
                try await self.context.store.append(message)
            } catch {
                rules.withdraw(pass)
                throw error
            }
        }
        if case .finished = result { rules.withdraw(pass) }
        return result
    }

    /// Answers a message the room may already hold under `clientID` with the original; when it holds none,
    /// `refuse` decides (the message would be new, and something refused it). With `refunding`, the token the
    /// lookup took is handed back for a resend, which costs none.
    private func answerResend(
        _ clientID: String,
        text: String,
        attachments: [String],
        in room: Room,
        refunding: Bool = false,
        else refuse: @escaping @Sendable () throws -> Void
    ) -> CommandResult {
        wait(clientID: clientID) {
            if let original = try await self.context.store.message(roomID: room.record.id, clientID: clientID) {
                guard original.isResent(as: text, attachments: attachments) else { throw Self.clientIDTaken }
                if refunding { self.rate.withLock { $0.refund() } }
                self.send(.message(original))
            } else {
                try refuse()
            }
        }
    }

    private func refuseRate() throws(ProtocolError) {
        if rate.withLock({ $0.refuse() }) == .close {
            outbox.closeNow(code: CloseCode.policyViolation.rawValue, reason: "rate limit exceeded")
            return
        }
        throw ProtocolError(.rateLimited, "too many messages; slow down")
    }

    /// What runs once storage has decided on a message this connection sent, after the room got it
    /// (``PendingMessage/delivery``): the sender hears of anything but success.
    /// A slow-mode `pass` is handed back unless the message was stored.
    private func committed(clientID: String?, slowMode pass: RoomRules.SlowModePass?) -> @Sendable (AppendResult) -> Void {
        { result in
            if case .stored = result {} else { self.context.moderation.rules.withdraw(pass) }
            switch result {
            case .stored:
                break
            case .duplicate(let original):
                self.rate.withLock { $0.refund() }
                self.send(.message(original))
            case .conflict:
                self.context.metrics.refused(.badRequest)
                self.send(.error(code: .badRequest, message: Self.clientIDTaken.message, clientID: clientID))
            case .noRoom:
                self.send(.error(code: .notFound, message: "the room no longer exists", clientID: clientID))
            case .failed:
                self.send(.error(code: .unavailable, message: "the message could not be stored; resend it", clientID: clientID))
            case .refused(let error):
                self.context.metrics.refused(error.code)
                self.send(.error(code: error.code, message: error.message, clientID: clientID))
            case .changed, .unchanged:
                break
            }
        }
    }

    /// What runs once storage has decided on a change, after the members got the update (the changer too):
    /// the changer alone hears of a refusal.
    private func changed() -> @Sendable (AppendResult) -> Void {
        { result in
            switch result {
            case .refused(let error):
                self.context.metrics.refused(error.code)
                self.send(.error(code: error.code, message: error.message))
            case .failed:
                self.send(.error(code: .unavailable, message: "the change could not be stored; try again"))
            case .noRoom:
                self.send(.error(code: .notFound, message: "the room no longer exists"))
            case .stored, .duplicate, .conflict, .changed, .unchanged:
                break
            }
        }
    }

    /// A `client_id` already stored in the room with other text: only the same message may be resent.
    static let clientIDTaken = ProtocolError(.badRequest, "client_id is already used by another message in this room")

    /// Runs `command` on a worker and tells the handler when it is done. A protocol error is answered as
    /// usual; any other failure means storage did not answer: the command fails, the connection stays.
    /// When no worker can take it, the client is told the server is busy and the command is finished.
    func wait(clientID: String?, _ command: @escaping @Sendable () async throws -> Void) -> CommandResult {
        let queued = context.work.submit {
            do {
                try await command()
            } catch let error as ProtocolError {
                self.context.metrics.refused(error.code)
                self.send(.error(code: error.code, message: error.message, clientID: clientID))
            } catch {
                self.logger.warning("command failed", metadata: ["error": "\(error)"])
                self.context.metrics.refused(.unavailable)
                self.send(.error(code: .unavailable, message: "storage is unavailable; try again", clientID: clientID))
            }
            self.channel.pipeline.fireUserInboundEventTriggered(Event.finished)
        }
        if !queued {
            context.metrics.refused(.unavailable)
            send(.error(code: .unavailable, message: "the server is busy; try again", clientID: clientID))
        }
        return queued ? .waiting : .finished
    }

    func send(_ event: ServerEvent) {
        enqueue(EventEncoder.encode(event))
    }

    /// Queues a frame for this client alone; an overflow cuts it off as a slow consumer, counted here.
    func enqueue(_ frame: ByteBuffer) {
        if outbox.enqueue(frame) == .overflowed {
            context.metrics.slowConsumersClosed.increment()
        }
    }
}
