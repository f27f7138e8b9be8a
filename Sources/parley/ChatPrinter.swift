import ParleyClient
import ParleyProtocol

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
/// ```
/// Colours (ANSI) are used only where the stream is a terminal and `NO_COLOR` is not set. Every string
/// that came from the server (texts, nicks, room names, error messages) goes through
/// ``TerminalText/escape(_:)``: it can show control characters but never send them to the terminal.
struct ChatPrinter: Sendable {
    let output = Terminal.standardOutput
    let status = Terminal.standardError
    let color: Bool
    let statusColor: Bool

    init() {
        color = output.usesColor
        statusColor = status.usesColor
    }

    func show(_ item: ChatOutput) {
        switch item {
        case .message(let message, let own):
            output.write(line(for: message, own: own))
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
        case .members(let members):
            note("\(members.count) member\(members.count == 1 ? "" : "s"): \(safe(members.joined(separator: ", ")))")
        case .serverError(let code, let message):
            note("server: \(code.rawValue): \(safe(message))", error: true)
        case .status(let progress):
            // Close reasons and echoed lines come from the server or the user: shown, never obeyed.
            note(safe(progress.description))
        }
    }

    /// A status line on standard error.
    func note(_ text: String, error: Bool = false) {
        let body = "parley: \(text)"
        guard statusColor else { return status.write(body + "\n") }
        status.write((error ? Style.red : Style.dim) + body + Style.reset + "\n")
    }

    func line(for message: ChatMessage, own: Bool) -> String {
        let time = Self.localTime(message.ts)
        let (nick, text) = (safe(message.nick), safe(message.text))
        guard color else { return "\(time) <\(nick)>\(own ? "*" : "") \(text)\n" }
        let nickStyle = own ? Style.bold : Style.nickColor(message.nick)
        return "\(Style.dim)\(time)\(Style.reset) \(nickStyle)<\(nick)>\(own ? "*" : "")\(Style.reset) \(text)\n"
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
