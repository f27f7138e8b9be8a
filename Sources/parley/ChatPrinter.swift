import ParleyClient
import ParleyProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Renders a chat session: messages and room events on standard output, status on standard error.
///
/// ```
/// 10:00:05 <bob> hello
/// 10:00:07 <alice>* hi bob            (own messages carry a *)
/// 10:00:09 -- carol joined
///          ↳ re #12 alice: the plan is ready   (a reply: what it answers, then the reply)
/// 10:00:11 <bob> yes
/// 10:00:12 -- #12 alice edited: the plan is ready (v2)
/// ```
/// With ``showIDs`` each message line carries its id (`10:00:05 #13 <bob> hello`) so it can be named
/// in `/reply`, `/edit`, `/delete` and `/react`.
/// Colours (ANSI) are used only where the stream is a terminal and `NO_COLOR` is not set. Every string
/// that came from the server (texts, nicks, room names, error messages) goes through
/// ``TerminalText/escape(_:)``: it can show control characters but never send them to the terminal.
struct ChatPrinter: Sendable {
    let output = Terminal.standardOutput
    let status = Terminal.standardError
    let color: Bool
    let statusColor: Bool
    private let memory: Memory

    /// What the printer remembers: whether ids are shown, and recent messages (for reply quotes and for
    /// telling what a change changed).
    final class Memory: Sendable {
        struct State {
            var showIDs: Bool
            var recent: [Int64: ChatMessage] = [:]
        }
        let state: Mutex<State>
        /// Messages remembered; the oldest ids are forgotten beyond this.
        static let capacity = 2000

        init(showIDs: Bool) { state = Mutex(State(showIDs: showIDs)) }
    }

    /// Put in front of a file's `/files/…` path (the server's HTTP base).
    let fileBase: String
    /// The percentage of an upload last shown.
    let uploadShown = UploadShown()

    init(showIDs: Bool = false, fileBase: String = "") {
        self.fileBase = fileBase
        color = output.usesColor
        statusColor = status.usesColor
        memory = Memory(showIDs: showIDs)
    }

    var showIDs: Bool { memory.state.withLock { $0.showIDs } }

    /// `/ids`: on, off, or flipped (nil). Returns the new setting.
    @discardableResult
    func setShowIDs(_ on: Bool?) -> Bool {
        memory.state.withLock { state in
            state.showIDs = on ?? !state.showIDs
            return state.showIDs
        }
    }

    private func remember(_ message: ChatMessage) -> ChatMessage? {
        memory.state.withLock { state in
            let previous = state.recent.updateValue(message, forKey: message.id)
            if state.recent.count > Memory.capacity + Memory.capacity / 4 {
                for id in state.recent.keys.sorted().prefix(state.recent.count - Memory.capacity) { state.recent.removeValue(forKey: id) }
            }
            return previous
        }
    }

    private func recalled(_ id: Int64) -> ChatMessage? {
        memory.state.withLock { $0.recent[id] }
    }

    func show(_ item: ChatOutput) {
        switch item {
        case .message(let message, let own):
            output.write(line(for: message, own: own))
        case .changed(let message):
            output.write(change(message))
        case .searchResults(let query, let messages, let hasMore):
            guard !messages.isEmpty else {
                note("search \"\(safe(query))\": nothing found")
                return
            }
            output.write(event(nil, "search \"\(safe(query))\": \(messages.count)\(hasMore ? "+" : "") found, newest first"))
            for message in messages { output.write(line(for: message, own: false, ids: true, remember: false)) }
            output.write(event(nil, "end of search"))
        case .olderMessages(let messages, let hasMore):
            guard !messages.isEmpty else {
                note("no older messages")
                return
            }
            output.write(event(nil, "older messages\(hasMore ? " (more with /history)" : "")"))
            for message in messages { output.write(line(for: message, own: false)) }
            output.write(event(nil, "end of older messages"))
        case .join(let nick, let ts):
            output.write(event(ts, "\(safe(nick)) joined"))
        case .leave(let nick, let ts):
            output.write(event(ts, "\(safe(nick)) left"))
        case .nickChange(let from, let to, let ts, let own):
            output.write(event(ts, own ? "you are now known as \(safe(to))" : "\(safe(from)) is now known as \(safe(to))"))
        case .connected(let room, let nick, let members):
            let name = room.name.map { " (\(safe($0)))" } ?? ""
            note("connected to room \(safe(room.code))\(name) as \(safe(nick)); members: \(safe(members.joined(separator: ", ")))")
        case .removed(let nick, let reason, let ts):
            output.write(event(ts, "\(safe(nick)) was \(reason.rawValue)"))
        case .role(let role):
            note("you are this room's \(role.rawValue)")
        case .roomSettings(let room):
            note(Self.describe(room).map(safe).joined(separator: "; "))
        case .bans(let bans):
            guard !bans.isEmpty else {
                note("nobody is banned")
                return
            }
            let list = bans.map { ban in "\(safe(ban.nick)) (\(ban.until.map { "until " + Self.localTime($0) } ?? "until unbanned"))" }
            note("banned: " + list.joined(separator: ", "))
        case .moderatorLink(let url):
            note("moderator link (a secret: whoever holds it can moderate): \(safe(url))")
        case .members(let members):
            note("\(members.count) member\(members.count == 1 ? "" : "s"): \(safe(members.joined(separator: ", ")))")
        case .serverError(let code, let message):
            note("server: \(code.rawValue): \(safe(message))", error: true)
        case .status(let progress):
            // Close reasons and echoed lines come from the server or the user: shown, never obeyed.
            note(safe(progress.description))
        }
    }

    /// The room's settings in words (§12).
    static func describe(_ room: RoomInfo) -> [String] {
        var parts = ["topic: " + (room.topic ?? "none")]
        parts.append(room.locked == true ? "locked: only the owner and moderators may post" : "not locked")
        let slow = room.slowMode ?? 0
        parts.append(slow > 0 ? "slow mode: one message per \(slow) s" : "slow mode off")
        return parts
    }

    /// A status line on standard error.
    func note(_ text: String, error: Bool = false) {
        let body = "parley: \(text)"
        guard statusColor else { return status.write(body + "\n") }
        status.write((error ? Style.red : Style.dim) + body + Style.reset + "\n")
    }

    func line(for message: ChatMessage, own: Bool, ids: Bool? = nil, remember keep: Bool = true) -> String {
        if keep { _ = remember(message) }
        let time = Self.localTime(message.ts)
        let id = (ids ?? showIDs) ? "#\(message.id) " : ""
        let (nick, text) = (safe(message.nick), body(message))
        let quote = message.replyTo.map { self.quote($0) } ?? ""
        guard color else { return "\(quote)\(time) \(id)<\(nick)>\(own ? "*" : "") \(text)\n" }
        let nickStyle = own ? Style.bold : Style.nickColor(message.nick)
        let idStyled = id.isEmpty ? "" : Style.dim + id + Style.reset
        return "\(quote)\(Style.dim)\(time)\(Style.reset) \(idStyled)\(nickStyle)<\(nick)>\(own ? "*" : "")\(Style.reset) \(text)\n"
    }

    /// A message's text as shown: marked when edited or deleted, with its reactions after it.
    private func body(_ message: ChatMessage) -> String {
        if message.deleted == true { return "(deleted)" }
        var text = safe(message.text)
        if message.editedAt != nil { text += " (edited)" }
        if let reactions = message.reactions, !reactions.isEmpty {
            text += "  [" + reactions.map { "\(safe($0.emoji)) \($0.nicks.count)" }.joined(separator: " ") + "]"
        }
        for file in message.attachments ?? [] {
            let url = file.url.hasPrefix("/") ? fileBase + file.url : file.url
            text += "\n           [file] \(safe(file.name)) (\(Self.byteCount(file.size))) \(safe(url))"
        }
        return text
    }

    /// The line above a reply: what it answers.
    private func quote(_ id: Int64) -> String {
        var text = "         ↳ re #\(id)"
        if let parent = recalled(id) {
            let words = parent.deleted == true ? "(deleted)" : safe(Self.shortened(parent.text))
            text += " \(safe(parent.nick)): \(words)"
        }
        return (color ? Style.dim + text + Style.reset : text) + "\n"
    }

    /// One line for a change (§11): an edit, a deletion, or the reactions as they now are.
    func change(_ message: ChatMessage) -> String {
        let previous = remember(message)
        let who = "#\(message.id) \(safe(message.nick))"
        if message.deleted == true { return event(nil, "\(who): message deleted") }
        let edited = previous.map { $0.text != message.text || $0.editedAt != message.editedAt } ?? (message.editedAt != nil)
        if edited { return event(message.editedAt, "\(who) edited: \(safe(message.text))") }
        let reactions = (message.reactions ?? []).map { "\(safe($0.emoji)) \(safe($0.nicks.joined(separator: ", ")))" }
        return event(nil, "\(who): reactions " + (reactions.isEmpty ? "none" : reactions.joined(separator: " · ")))
    }

    static func shortened(_ text: String, to limit: Int = 60) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > limit ? flat.prefix(limit - 1) + "…" : flat
    }

    private func safe(_ text: String) -> String {
        TerminalText.escape(text)
    }

    func event(_ ts: Timestamp?, _ text: String) -> String {
        let time = ts.map(Self.localTime) ?? "        "
        guard color else { return "\(time) -- \(text)\n" }
        return "\(Style.dim)\(time) -- \(text)\(Style.reset)\n"
    }

    /// `HH:MM:SS` in the local time zone.
    static func localTime(_ ts: Timestamp) -> String {
        var seconds = time_t(ts.milliseconds / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec))"
    }

    /// ANSI escapes.
    enum Style {
        static let reset = "\u{1B}[0m"
        static let bold = "\u{1B}[1m"
        static let dim = "\u{1B}[2m"
        static let red = "\u{1B}[31m"
        static let palette = ["\u{1B}[32m", "\u{1B}[33m", "\u{1B}[34m", "\u{1B}[35m", "\u{1B}[36m", "\u{1B}[91m"]

        /// A stable colour per nick.
        static func nickColor(_ nick: String) -> String {
            let sum = nick.unicodeScalars.reduce(0) { ($0 &* 31 &+ Int($1.value)) & 0xFFFF }
            return palette[sum % palette.count]
        }
    }
}
