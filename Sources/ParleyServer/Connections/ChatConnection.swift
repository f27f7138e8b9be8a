import Logging
import NIOCore
import NIOWebSocket
import ParleyProtocol
import Synchronization
import WSCore

/// One client's session in a room: admits it, sends `welcome`, then runs a reader (commands in) and a
/// writer (its ``Outbox`` out) side by side until either ends.
final class ChatConnection: Sendable {
    let hub: ChatHub
    let room: Room
    let id: ConnectionID
    let outbox: Outbox
    /// The WebSocket's channel, for batched writes.
    let channel: any Channel
    let request: ConnectRequest
    let logger: Logger
    private let rate: Mutex<RateLimiter>
    private let lastTyping = Mutex<ContinuousClock.Instant?>(nil)
    static let typingInterval = Duration.seconds(2)

    init(hub: ChatHub, room: Room, id: ConnectionID, outbox: Outbox, channel: any Channel, request: ConnectRequest, logger: Logger) {
        self.hub = hub
        self.room = room
        self.id = id
        self.outbox = outbox
        self.channel = channel
        self.request = request
        self.logger = logger
        self.rate = Mutex(RateLimiter(burst: hub.configuration.rateBurst, perSecond: hub.configuration.ratePerSecond))
    }

    /// Joins the room, sends `welcome` and serves the socket until it closes.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let admission: Room.Admission
        do {
            admission = try await join()
        } catch {
            // Storage is down (cluster mode): say so and close, rather than leave the client waiting.
            logger.warning("could not join", metadata: ["room": "\(room.code)", "error": "\(error)"])
            try await Self.refuse(outbound)
            return
        }
        do {
            try await serve(admission, inbound: inbound, outbound: outbound)
        } catch {
            await leave()
            throw error
        }
        await leave()
    }

    /// Tells a client that storage is down, then closes 1011: an error it can act on, never a silent hang.
    static func refuse(_ outbound: WebSocketOutboundWriter) async throws {
        let refusal = ServerEvent.error(code: .unavailable, message: "storage is unavailable; try again", clientID: nil)
        try? await outbound.write(.text(String(buffer: EventEncoder.encode(refusal))))
        try await outbound.close(.unexpectedServerError, reason: "storage unavailable")
    }

    /// Takes a nick: in the room alone on one node, or reserved cluster-wide first.
    private func join() async throws -> Room.Admission {
        guard let cluster = hub.cluster else {
            return room.join(id, requestedNick: request.nick, session: request.session, outbox: outbox)
        }
        // The reserved row announces the join to the other nodes (the members trigger).
        let claim = try await cluster.claim(room: room.record, requested: request.nick, session: request.session, connection: id)
        return room.join(id, claimed: claim.nick, session: claim.session, announce: !claim.tookOver, outbox: outbox)
    }

    private func leave() async {
        guard room.leave(id) != nil, let cluster = hub.cluster else { return }
        await cluster.release(room: room.record, connection: id)
    }

    private func serve(_ admission: Room.Admission, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        logger.debug("joined", metadata: ["room": "\(room.code)", "nick": "\(admission.nick)"])
        let configuration = hub.configuration
        let page =
            if let since = request.since {
                try await hub.store.messages(roomID: room.record.id, after: since, before: nil, limit: 1000, newest: true)
            } else {
                try await hub.store.messages(roomID: room.record.id, after: nil, before: nil, limit: configuration.historySize, newest: true)
            }
        room.anchor(after: page.lastID)
        var members = admission.members
        if let cluster = hub.cluster {
            members = try await cluster.members(roomID: room.record.id)
            room.seedRemote(members: members)
        }
        let welcome = ServerEvent.Welcome(
            room: room.record.info,
            nick: admission.nick,
            session: admission.session,
            members: members,
            history: page.messages,
            lastID: page.lastID,
            truncated: page.hasMore
        )
        outbox.open(with: EventEncoder.encode(.welcome(welcome)), coveredID: page.lastID)

        // Frames are written from the event loop (``OutboxWriter``); this task only sends the final close, through
        // the library. The close (or the outbox ending) stops the reader; the reader ending lets a close it
        // asked for (1003, 1008) still be sent first.
        let writer = OutboxWriter(outbox: outbox, channel: channel)
        writer.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { self.outbox.inputEnded() }
                try await self.readLoop(inbound)
            }
            if let close = await writer.close() {
                try await outbound.close(WebSocketErrorCode(codeNumber: Int(close.code)), reason: close.reason)
            }
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    private func readLoop(_ inbound: WebSocketInboundStream) async throws {
        var messages = inbound.messages(maxSize: hub.configuration.maxFrameBytes).makeAsyncIterator()
        while let message = try await messages.next() {
            switch message {
            case .binary:
                hub.metrics.closedBinary.increment()
                outbox.closeNow(code: 1003, reason: "binary frames are not accepted")
                return
            case .text(let text):
                var clientID: String?
                do {
                    let command = try ClientCommand.parse(frame: text)
                    if case .message(_, let id) = command { clientID = id }
                    try await handle(command)
                } catch let error as ProtocolError {
                    hub.metrics.refused(error.code)
                    send(.error(code: error.code, message: error.message, clientID: clientID))
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // Storage did not answer (a history read, a resend lookup, a rename on a cluster): the
                    // command fails, the connection stays.
                    logger.warning("command failed", metadata: ["error": "\(error)"])
                    hub.metrics.refused(.unavailable)
                    send(.error(code: .unavailable, message: "storage is unavailable; try again", clientID: clientID))
                }
            }
        }
    }

    private func handle(_ command: ClientCommand) async throws {
        switch command {
        case .message(let text, let clientID):
            try await post(text: text, clientID: clientID)
        case .typing:
            let now = ContinuousClock.now
            let relay = lastTyping.withLock { last in
                if let previous = last, now - previous < Self.typingInterval { return false }
                last = now
                return true
            }
            guard relay else { return }
            room.typing(id)
            if let cluster = hub.cluster, let nick = room.nick(of: id) {
                var notice = ClusterNotice(.typing, room: room.code, node: cluster.node)
                notice.nick = nick
                await cluster.publish(notice)
            }
        case .nick(let raw):
            let nick = try Nick.normalize(raw)
            guard let cluster = hub.cluster else {
                try room.rename(id, to: nick)
                return
            }
            guard room.nick(of: id) != nick else { return }
            try await cluster.rename(room: room.record, connection: id, to: nick)
            try room.rename(id, to: nick)
        case .history(let before, let limit):
            let limit = limit ?? 50
            guard (1...200).contains(limit) else { throw ProtocolError(.badRequest, "limit must be 1-200") }
            let page = try await hub.store.messages(roomID: room.record.id, after: nil, before: before, limit: limit, newest: true)
            send(.history(messages: page.messages, hasMore: page.hasMore))
        case .ping:
            send(.pong)
        }
    }

    /// Validates, rate-limits and queues a message. A resend (same `client_id`) is answered to this
    /// connection alone with the original and costs no rate-limit token.
    private func post(text: String, clientID: String?) async throws {
        let text = try MessageText.validate(text, maxBytes: hub.configuration.maxMessageBytes)
        let allowed = rate.withLock { $0.take() == .allow }
        if !allowed {
            if let clientID, let original = try await hub.store.message(roomID: room.record.id, clientID: clientID) {
                send(.message(original))
                return
            }
            let decision = rate.withLock { $0.refuse() }
            if decision == .close {
                outbox.closeNow(code: 1008, reason: "rate limit exceeded")
                return
            }
            throw ProtocolError(.rateLimited, "too many messages; slow down")
        }
        guard let nick = room.nick(of: id) else { return }
        try await hub.submit(room: room.record, nick: nick, text: text, clientID: clientID) { result in
            switch result {
            case .stored:
                break
            case .duplicate(let original):
                self.rate.withLock { $0.refund() }
                self.outbox.enqueue(EventEncoder.encode(.message(original)))
            case .failed:
                self.outbox.enqueue(
                    EventEncoder.encode(.error(code: .unavailable, message: "the message could not be stored; resend it", clientID: clientID))
                )
            }
        }
        logger.trace("message queued", metadata: ["room": "\(room.code)"])
    }

    private func send(_ event: ServerEvent) {
        outbox.enqueue(EventEncoder.encode(event))
    }
}
