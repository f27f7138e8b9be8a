import OrderedCollections
import ParleyProtocol

/// Everything a chat session remembers across connections, as a value-type state machine:
/// the resume point (`since`, `session`), lines waiting for acknowledgement, and the member list.
///
/// Each mutating method returns an ``Action``: what to show and which frames to write. No I/O here.
struct ChatSessionState: Sendable {
    /// What the caller does after a transition.
    struct Action: Equatable, Sendable {
        var outputs: [ChatOutput] = []
        /// JSON command frames to write, in order, on the current connection.
        var frames: [String] = []
        /// Write this frame again after a pause (the server rate-limited it).
        var resendLater: String?
        /// Everything is acknowledged after the input ended: close the connection normally.
        var close = false
    }

    /// The nick to ask for (the server's answer replaces it).
    private(set) var nick: String?
    private(set) var session: String?
    /// The newest message id seen; `since` on the next connection.
    private(set) var lastID: Int64?
    /// The oldest message id seen; `before` for `/history`.
    private(set) var oldestID: Int64?
    /// Messages missed by a truncated resume lie between these ids; `/history` fills the gap first.
    private(set) var gap: (after: Int64, before: Int64)?
    private(set) var members: [String] = []
    /// Lines not yet acknowledged, by `client_id`, oldest first.
    private(set) var pending: OrderedDictionary<String, String> = [:]
    private(set) var isConnected = false
    private(set) var hasConnected = false
    private(set) var inputFinished = false
    /// Commands given before the first connection, run once welcomed (so scripts may start with them).
    private(set) var deferred: [ChatInput] = []
    /// `history` and `nick` commands sent and not yet answered on this connection.
    private(set) var awaitingReplies = 0
    /// What the server allows, from the last `welcome` (nil before it, or from a server that does not say).
    private(set) var limits: Limits?
    let room: String
    let maxPending: Int
    /// Makes the `client_id` of each line: random (``ClientID/random()``), so nobody can claim the next one first.
    private let newClientID: @Sendable () -> String

    init(room: String, nick: String?, maxPending: Int = 10_000, newClientID: @escaping @Sendable () -> String = ClientID.random) {
        self.room = room
        self.nick = nick
        self.maxPending = maxPending
        self.newClientID = newClientID
    }

    /// Input ended, the room was shown at least once, and every line and command is answered: the session can stop.
    var isSettled: Bool { hasConnected && inputFinished && pending.isEmpty && deferred.isEmpty && awaitingReplies == 0 }

    /// Query items for the next connection: room, nick, since and session.
    var connectionQuery: [(String, String)] {
        var query = [("room", room)]
        if let nick { query.append(("nick", nick)) }
        if let lastID { query.append(("since", String(lastID))) }
        if let session { query.append(("session", session)) }
        return query
    }

    /// A user line: kept until acknowledged, sent now when connected. A line longer than the server's
    /// limit is refused here, without a round trip.
    mutating func say(_ text: String) -> Action {
        guard pending.count < maxPending else {
            return Action(outputs: [.status(.dropped(text: text, reason: "\(maxPending) lines are already waiting"))])
        }
        if let refusal = tooLong(text) { return Action(outputs: [refusal]) }
        let clientID = newClientID()
        pending[clientID] = text
        guard isConnected else { return Action() }
        return Action(frames: [ClientCommand.message(text: text, clientID: clientID).json])
    }

    /// A command that only makes sense while connected (nick, history); otherwise a status says so.
    mutating func command(_ input: ChatInput) -> Action {
        switch input {
        case .say(let text):
            return say(text)
        case .members:
            guard hasConnected else {
                deferred.append(input)
                return Action()
            }
            return Action(outputs: [.members(members)])
        case .quit:
            return finishInput()
        case .nick(let newNick):
            guard isConnected else {
                // Before the first connection the nick is asked for in the URL; later `session` would win.
                if hasConnected { deferred.append(input) } else { nick = newNick }
                return Action()
            }
            awaitingReplies += 1
            return Action(frames: [ClientCommand.nick(newNick).json])
        case .history(let limit):
            guard isConnected else {
                deferred.append(input)
                return Action()
            }
            let before = gap?.before ?? oldestID ?? (lastID.map { $0 + 1 })
            awaitingReplies += 1
            let pages = Limits.historyPageSizes
            return Action(frames: [ClientCommand.history(before: before, limit: min(max(limit, pages.lowerBound), pages.upperBound)).json])
        }
    }

    /// No more input will come. Closes at once when nothing is waiting.
    mutating func finishInput() -> Action {
        inputFinished = true
        if isSettled { return Action(close: isConnected) }
        if isConnected || pending.isEmpty { return Action() }
        return Action(outputs: [.status(.waitingForAcknowledgement(count: pending.count))])
    }

    /// The first frame of a connection: resume, show what was missed, resend what is unacknowledged.
    mutating func welcome(_ welcome: ServerEvent.Welcome) -> Action {
        let resuming = hasConnected
        if resuming, welcome.truncated, let first = welcome.history.first {
            gap = (after: lastID ?? 0, before: first.id)
        }
        nick = welcome.nick
        session = welcome.session
        members = welcome.members
        limits = welcome.limits ?? limits
        isConnected = true
        hasConnected = true
        var action = Action(outputs: [.connected(room: welcome.room, nick: welcome.nick, members: welcome.members)])
        // Lines typed before the limits were known.
        for (clientID, text) in pending {
            if let refusal = tooLong(text) {
                pending.removeValue(forKey: clientID)
                action.outputs.append(refusal)
            }
        }
        if resuming, welcome.truncated { action.outputs.append(.status(.olderMissed)) }
        var missed = 0
        for message in welcome.history {
            if let output = accept(message) {
                action.outputs.append(output)
                missed += 1
            }
        }
        if let first = welcome.history.first, !resuming { oldestID = first.id }
        lastID = max(lastID ?? 0, welcome.lastID)
        if resuming { action.outputs.append(.status(.resumed(missed: missed))) }
        action.frames = pending.map { ClientCommand.message(text: $0.value, clientID: $0.key).json }
        let waiting = deferred
        deferred = []
        for input in waiting {
            let next = command(input)
            action.outputs += next.outputs
            action.frames += next.frames
        }
        action.close = isSettled
        return action
    }

    /// Any later event.
    mutating func receive(_ event: ServerEvent) -> Action {
        switch event {
        case .welcome(let welcome):
            return self.welcome(welcome)
        case .message(let message):
            var action = Action()
            if let output = accept(message) { action.outputs.append(output) }
            action.close = isSettled
            return action
        case .join(let who, let ts):
            if !members.contains(who) { members.append(who) }
            return Action(outputs: [.join(nick: who, ts: ts)])
        case .leave(let who, let ts):
            members.removeAll { $0 == who }
            return Action(outputs: [.leave(nick: who, ts: ts)])
        case .nick(let from, let to, let ts):
            if let index = members.firstIndex(of: from) { members[index] = to } else { members.append(to) }
            let own = nick.map { Nick.key($0) == Nick.key(from) } ?? false
            if own {
                nick = to
                awaitingReplies = max(awaitingReplies - 1, 0)
            }
            return Action(outputs: [.nickChange(from: from, to: to, ts: ts, own: own)], close: isSettled)
        case .history(let messages, let hasMore):
            if let first = messages.first { oldestID = min(oldestID ?? first.id, first.id) }
            if let open = gap {
                // Narrow the gap from above; it is closed once a page reaches what was seen before it.
                if let first = messages.first, first.id > open.after + 1 { gap = (open.after, first.id) } else { gap = nil }
            }
            awaitingReplies = max(awaitingReplies - 1, 0)
            return Action(outputs: [.olderMessages(messages, hasMore: hasMore)], close: isSettled)
        case .error(let code, let message, let clientID):
            return refused(code: code, message: message, clientID: clientID)
        case .typing, .pong:
            return Action()
        }
    }

    /// The connection ended; pending lines stay and are resent after the next welcome.
    mutating func disconnected() {
        isConnected = false
        awaitingReplies = 0
    }

    /// The status refusing `text` when it is longer than the server's message limit.
    private func tooLong(_ text: String) -> ChatOutput? {
        guard let limit = limits?.maxMessageBytes else { return nil }
        let bytes = text.utf8.count
        return bytes > limit ? .status(.tooLong(bytes: bytes, limit: limit)) : nil
    }

    /// Records a message; returns what to show, or nil for one already seen.
    private mutating func accept(_ message: ChatMessage) -> ChatOutput? {
        var own = false
        if let clientID = message.clientID, pending.removeValue(forKey: clientID) != nil { own = true }
        if let lastID, message.id <= lastID { return nil }
        lastID = message.id
        if oldestID == nil { oldestID = message.id }
        if !own, let nick, Nick.key(nick) == Nick.key(message.nick) { own = true }
        return .message(message, own: own)
    }

    /// An `error` event. Parley names the refused line by its `client_id`; from a server that does not,
    /// the oldest unacknowledged line is assumed.
    private mutating func refused(code: ErrorCode, message: String, clientID: String?) -> Action {
        var action = Action(outputs: [.serverError(code: code, message: message)])
        let line: (key: String, value: String)? =
            if let clientID { pending[clientID].map { (clientID, $0) } } else { pending.elements.first.map { ($0.key, $0.value) } }
        switch code {
        case .tooLarge, .badRequest:
            if let line {
                pending.removeValue(forKey: line.key)
                action.outputs.append(.status(.dropped(text: line.value, reason: code.rawValue)))
            }
            action.close = isSettled
        case .rateLimited, .unavailable:
            // Not stored: send it again after a pause (a resend is never stored twice).
            if let line {
                action.outputs = [.status(.slowedDown)]
                action.resendLater = ClientCommand.message(text: line.value, clientID: line.key).json
            }
        case .nickTaken, .invalidNick:
            awaitingReplies = max(awaitingReplies - 1, 0)
            action.close = isSettled
        default:
            break
        }
        return action
    }
}
