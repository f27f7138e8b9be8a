import ParleyClient
import ParleyProtocol

/// One typed line: chat text, or a slash command.
enum ChatLine: Equatable {
    case input(ChatInput)
    /// `/upload PATH [TEXT]`: upload a file (§14), then send TEXT carrying it.
    case upload(path: String, text: String)
    /// Show message ids (`/ids on`), hide them (`/ids off`), or flip (`/ids`).
    case showIDs(Bool?)
    case help
    case ignored
    case unknown(String)

    static let helpText = """
        Commands:
          /nick NEW      change your nick
          /history [N]   show up to N older messages (default 20, at most \(Limits.historyPageSizes.upperBound))
          /members       list who is in the room
          /reply ID TEXT answer message ID
          /edit ID TEXT  replace the text of your message ID (/edit TEXT: your last one)
          /delete ID     delete your message ID
          /react ID EMOJI, /unreact ID EMOJI   add or take back a reaction
          /search WORDS  find messages containing every word (newest first)
          /upload PATH [TEXT]  upload a file and send it with TEXT ("PATH" if it has spaces)
          /ids [on|off]  show message ids as #ID, so they can be named
        Owners and moderators (connect with --key, or the owner URL):
          /kick NICK, /ban NICK [SECONDS], /unban NICK, /bans
          /topic TEXT, /lock, /unlock, /slow SECONDS (0: off)
          /modlink       a new moderator link (owner only), /revoke: end every moderator link
          /quit          leave (after your lines are acknowledged)
          /help          this text
          //text         send a line that starts with /
        Anything else is sent as a message.
        """

    init(_ line: String) {
        var text = Substring(line)
        if text.last == "\r" { text.removeLast() }
        guard text.first == "/" else {
            self = text.allSatisfy(\.isWhitespace) ? .ignored : .input(.say(String(text)))
            return
        }
        if text.hasPrefix("//") {
            self = .input(.say(String(text.dropFirst())))
            return
        }
        let words = text.dropFirst().split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        let argument = words.count > 1 ? String(words[1]).trimmingWhitespace() : ""
        switch words.first.map(String.init) {
        case "nick" where !argument.isEmpty:
            self = .input(.nick(argument))
        case "history":
            if argument.isEmpty {
                self = .input(.history(limit: 20))
            } else if let limit = Int(argument), Limits.historyPageSizes.contains(limit) {
                self = .input(.history(limit: limit))
            } else {
                self = .unknown("/history takes a count from \(Limits.historyPageSizes.lowerBound) to \(Limits.historyPageSizes.upperBound)")
            }
        case "members", "who", "names":
            self = .input(.members)
        case "quit", "exit":
            self = .input(.quit)
        case "reply":
            self = Self.idAnd(argument, usage: "/reply ID TEXT") { .input(.reply(to: $0, text: $1)) }
        case "edit":
            if let (id, text) = Self.split(argument), let id = Self.id(id) {
                self = .input(.edit(id: id, text: text))
            } else if !argument.isEmpty, Self.id(argument) == nil {
                self = .input(.edit(id: nil, text: argument))
            } else {
                self = .unknown("usage: /edit ID TEXT, or /edit TEXT for your last message")
            }
        case "delete", "del":
            if let id = Self.id(argument) { self = .input(.delete(id: id)) } else { self = .unknown("usage: /delete ID") }
        case "react":
            self = Self.idAnd(argument, usage: "/react ID EMOJI") { .input(.react(id: $0, emoji: $1)) }
        case "unreact":
            self = Self.idAnd(argument, usage: "/unreact ID EMOJI") { .input(.unreact(id: $0, emoji: $1)) }
        case "upload":
            // A path with spaces goes in double quotes.
            var path = Substring(argument)
            var rest = Substring("")
            if argument.hasPrefix("\""), let close = argument.dropFirst().firstIndex(of: "\"") {
                path = argument[argument.index(after: argument.startIndex)..<close]
                rest = argument[argument.index(after: close)...]
            } else if let space = argument.firstIndex(of: " ") {
                (path, rest) = (argument[..<space], argument[space...])
            }
            self = path.isEmpty ? .unknown("usage: /upload PATH [TEXT]") : .upload(path: String(path), text: String(rest).trimmingWhitespace())
        case "search", "find":
            self = argument.isEmpty ? .unknown("usage: /search WORDS") : .input(.search(argument))
        case "ids":
            switch argument {
            case "": self = .showIDs(nil)
            case "on": self = .showIDs(true)
            case "off": self = .showIDs(false)
            default: self = .unknown("usage: /ids [on|off]")
            }
        case "kick", "unban":
            let name = words.first.map(String.init) ?? ""
            guard !argument.isEmpty else {
                self = .unknown("usage: /\(name) NICK")
                return
            }
            self = .input(.moderate(name == "kick" ? .kick(nick: argument) : .unban(nick: argument)))
        case "ban":
            let parts = argument.split(separator: " ")
            if parts.count == 1 {
                self = .input(.moderate(.ban(nick: String(parts[0]), seconds: nil)))
            } else if parts.count == 2, let seconds = Int64(parts[1]), seconds > 0 {
                self = .input(.moderate(.ban(nick: String(parts[0]), seconds: seconds)))
            } else {
                self = .unknown("usage: /ban NICK [SECONDS]")
            }
        case "bans":
            self = .input(.moderate(.bans))
        case "topic":
            self = .input(.moderate(.room(RoomChange(topic: .some(argument.isEmpty ? nil : argument)))))
        case "lock", "unlock":
            self = .input(.moderate(.room(RoomChange(locked: words.first == "lock"))))
        case "slow":
            if let seconds = Int(argument), RoomChange.slowModeSeconds.contains(seconds) {
                self = .input(.moderate(.room(RoomChange(slowMode: seconds))))
            } else {
                self = .unknown("usage: /slow SECONDS (0-3600; 0 turns slow mode off)")
            }
        case "modlink":
            self = .input(.moderate(.moderatorKey))
        case "revoke":
            self = .input(.moderate(.revokeModeratorKeys))
        case "help", "?":
            self = .help
        case "nick":
            self = .unknown("/nick needs a new nick")
        default:
            self = .unknown("unknown command \(text.split(separator: " ").first ?? ""); /help lists them")
        }
    }
}

extension ChatLine {
    /// A message id as typed: `12` or `#12`.
    static func id(_ word: String) -> Int64? {
        let digits = word.hasPrefix("#") ? String(word.dropFirst()) : word
        guard let id = Int64(digits), id > 0 else { return nil }
        return id
    }

    /// `ID REST` → (ID, REST), REST not empty.
    static func split(_ argument: String) -> (String, String)? {
        let words = argument.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard words.count == 2 else { return nil }
        let rest = String(words[1]).trimmingWhitespace()
        return rest.isEmpty ? nil : (String(words[0]), rest)
    }

    static func idAnd(_ argument: String, usage: String, _ make: (Int64, String) -> ChatLine) -> ChatLine {
        guard let (word, rest) = split(argument), let id = id(word) else { return .unknown("usage: \(usage)") }
        return make(id, rest)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
