// Over 300 lines: one state machine whose stored state is private to it; spreading its transitions over
// extension files would widen that state to the whole module.
import OrderedCollections
import ParleyProtocol

/// Everything a chat session remembers across connections, as a value-type state machine:
/// the resume point (`since`, `rev`, `session`), lines waiting for acknowledgement, and the member list.
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
    /// The room's newest revision seen (§11); `rev` on the next connection. Nil until a server reports one.
    private(set) var rev: Int64?
    /// The newest message this user sent that this session saw: what `/edit TEXT` edits.
    private(set) var lastOwnID: Int64?
    /// The message each pending reply answers, by `client_id`, so a resend is still a reply.
    private(set) var replyTargets: [String: Int64] = [:]
    /// The uploaded files (§14) a pending line carries, by `client_id`.
    private(set) var attachedFiles: [String: [String]] = [:]
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
    /// `history` and `nick` commands, and changes (each followed by a `ping`), sent and not yet answered on
    /// this connection.
    private(set) var awaitingReplies = 0
    /// Changes sent whose `ping` is not answered yet.
    private(set) var changesInFlight = 0
    /// What the server allows, from the last `welcome` (nil before it, or from a server that does not say).
    private(set) var limits: Limits?
    let room: String
    /// The room key this session connects with (§12).
    let key: String?
    let maxPending: Int
    /// Makes the `client_id` of each line: random (``ClientID/random()``), so nobody can claim the next one first.
    private let newClientID: @Sendable () -> String

    init(
        room: String,
        nick: String?,
        key: String? = nil,
        maxPending: Int = 10_000,
        newClientID: @escaping @Sendable () -> String = ClientID.random
    ) {
        self.room = room
        self.key = key
        self.nick = nick
        self.maxPending = maxPending
        self.newClientID = newClientID
    }

    /// Input ended, the room was shown at least once, and every line and command is answered: the session can stop.
    var isSettled: Bool { hasConnected && inputFinished && pending.isEmpty && deferred.isEmpty && awaitingReplies == 0 }

    /// Query items for the next connection: room, nick, since (with rev once a server reported one) and session.
    var connectionQuery: [(String, String)] {
        var query = [("room", room)]
        if let nick { query.append(("nick", nick)) }
        if let lastID {
            query.append(("since", String(lastID)))
            if let rev { query.append(("rev", String(rev))) }
        }
        if let session { query.append(("session", session)) }
        if let key { query.append(("key", key)) }
        return query
    }

    /// A user line: kept until acknowledged, sent now when connected. A line longer than the server's
    /// limit is refused here, without a round trip.
    mutating func say(_ text: String, replyTo: Int64? = nil, attachments: [String] = []) -> Action {
        guard pending.count < maxPending else {
            return Action(outputs: [.status(.dropped(text: text, reason: "\(maxPending) lines are already waiting"))])
        }
        if let refusal = tooLong(text) { return Action(outputs: [refusal]) }
        let clientID = newClientID()
        pending[clientID] = text
        if let replyTo { replyTargets[clientID] = replyTo }
        if !attachments.isEmpty { attachedFiles[clientID] = attachments }
        guard isConnected else { return Action() }
        return Action(frames: [messageFrame(clientID: clientID, text: text)])
    }

    private func messageFrame(clientID: String, text: String) -> String {
        ClientCommand.message(text: text, clientID: clientID, replyTo: replyTargets[clientID], attachments: attachedFiles[clientID] ?? []).json
    }

    /// Edits, deletions and reactions (§11) wait for a connection like `/history`; they are not resent after a
    /// reconnect, since the message may have changed meanwhile.
    private mutating func change(_ input: ChatInput) -> Action {
        if case .react(_, let emoji) = input, (try? Emoji.validate(emoji)) == nil { return Action(outputs: [.status(.notAnEmoji(emoji))]) }
        if case .unreact(_, let emoji) = input, (try? Emoji.validate(emoji)) == nil { return Action(outputs: [.status(.notAnEmoji(emoji))]) }
        guard isConnected else {
            deferred.append(input)
            return Action()
        }
        let command: ClientCommand
        switch input {
        case .edit(let id, let text):
            guard let id = id ?? lastOwnID else { return Action(outputs: [.status(.nothingToEdit)]) }
            if let refusal = tooLong(text) { return Action(outputs: [refusal]) }
            command = .edit(id: id, text: text)
        case .delete(let id):
            command = .delete(id: id)
        case .react(let id, let emoji), .unreact(let id, let emoji):
            command = if case .react = input { .react(id: id, emoji: emoji) } else { .unreact(id: id, emoji: emoji) }
        case .moderate(let moderation):
            command = moderation
        default:
            return Action()
        }
        // A change may be answered by an `update`, an error, or (a reaction already there) nothing at all;
        // the pong after it says the server has read it, so a script can end right after a change.
        awaitingReplies += 1
        changesInFlight += 1
        return Action(frames: [command.json, ClientCommand.ping.json])
    }

    /// A command that only makes sense while connected (nick, history); otherwise a status says so.
    mutating func command(_ input: ChatInput) -> Action {
        switch input {
        case .say(let text):
            return say(text)
        case .reply(let id, let text):
            return say(text, replyTo: id)
        case .sayWithFiles(let text, let files):
            return say(text, attachments: files)
        case .edit, .delete, .react, .unreact, .moderate:
            return change(input)
        case .search:
            return Action()  // HTTP, not the session's: the caller answers it
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
        if let newest = welcome.rev { rev = max(rev ?? 0, newest) }
        isConnected = true
        hasConnected = true
        var action = Action(outputs: [.connected(room: welcome.room, nick: welcome.nick, members: welcome.members)])
        // Only a role beyond member is worth a line; the settings when any is in force.
        if let role = welcome.role, role != .member { action.outputs.append(.role(role)) }
        if welcome.room.topic != nil || welcome.room.locked == true || (welcome.room.slowMode ?? 0) > 0 {
            action.outputs.append(.roomSettings(welcome.room))
        }
        // Lines typed before the limits were known.
        for (clientID, text) in pending {
            if let refusal = tooLong(text) {
                pending.removeValue(forKey: clientID)
                replyTargets.removeValue(forKey: clientID)
                attachedFiles.removeValue(forKey: clientID)
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
        // Changes made while away to messages shown before, in their current state (§11).
        if resuming {
            for message in welcome.updates ?? [] { action.outputs.append(.changed(message)) }
            if welcome.updatesTruncated == true { action.outputs.append(.status(.changesMissed)) }
        }
        if resuming { action.outputs.append(.status(.resumed(missed: missed))) }
        action.frames = pending.map { messageFrame(clientID: $0.key, text: $0.value) }
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
        case .update(let newRev, let message):
            // A change carries the message's current state: one older than what was applied is skipped.
            if let rev, newRev <= rev { return Action() }
            rev = newRev
            if let lastOwnID, message.id == lastOwnID, message.deleted == true { self.lastOwnID = nil }
            return Action(outputs: [.changed(message)], close: isSettled)
        case .pong:
            awaitingReplies = max(awaitingReplies - 1, 0)
            changesInFlight = max(changesInFlight - 1, 0)
            return Action(close: isSettled)
        case .typing:
            return Action()
        case .removed(let who, let reason, let ts):
            members.removeAll { $0 == who }
            return Action(outputs: [.removed(nick: who, reason: reason, ts: ts)])
        case .room(let info):
            return Action(outputs: [.roomSettings(info)])
        case .bans(let bans):
            return Action(outputs: [.bans(bans)])
        case .moderatorKey(_, let url):
            return Action(outputs: [.moderatorLink(url: url)])
        }
    }

    /// The connection ended; pending lines stay and are resent after the next welcome.
    mutating func disconnected() {
        isConnected = false
        awaitingReplies = 0
        changesInFlight = 0
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
        if let clientID = message.clientID, pending.removeValue(forKey: clientID) != nil {
            replyTargets.removeValue(forKey: clientID)
            attachedFiles.removeValue(forKey: clientID)
            own = true
        }
        if let lastID, message.id <= lastID { return nil }
        lastID = message.id
        if oldestID == nil { oldestID = message.id }
        if !own, let nick, Nick.key(nick) == Nick.key(message.nick) { own = true }
        if own, message.deleted != true { lastOwnID = message.id }
        return .message(message, own: own)
    }

    /// An `error` event. Parley names the refused line by its `client_id`; from a server that does not,
    /// the oldest unacknowledged line is assumed.
    private mutating func refused(code: ErrorCode, message: String, clientID: String?) -> Action {
        var action = Action(outputs: [.serverError(code: code, message: message)])
        // Changes carry no client_id: a refusal naming no line while one awaits its pong is the change's.
        if clientID == nil, changesInFlight > 0 { return action }
        let line: (key: String, value: String)? =
            if let clientID { pending[clientID].map { (clientID, $0) } } else { pending.elements.first.map { ($0.key, $0.value) } }
        switch code {
        case .tooLarge, .badRequest,
            .notFound where clientID != nil,
            .forbidden where clientID != nil:
            // `not_found` naming a line: the message it replies to is gone; `forbidden`: a locked room (§12).
            if let line {
                pending.removeValue(forKey: line.key)
                replyTargets.removeValue(forKey: line.key)
                attachedFiles.removeValue(forKey: line.key)
                action.outputs.append(.status(.dropped(text: line.value, reason: code.rawValue)))
            }
            action.close = isSettled
        case .rateLimited, .unavailable:
            // Not stored: send it again after a pause (a resend is never stored twice).
            if let line {
                action.outputs = [.status(.slowedDown)]
                action.resendLater = messageFrame(clientID: line.key, text: line.value)
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
