import ParleyClient
import ParleyProtocol

/// One typed line: chat text, or a slash command.
enum ChatLine: Equatable {
    case input(ChatInput)
    case help
    case ignored
    case unknown(String)

    static let helpText = """
        Commands:
          /nick NEW      change your nick
          /history [N]   show up to N older messages (default 20, at most \(Limits.historyPageSizes.upperBound))
          /members       list who is in the room
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
        case "help", "?":
            self = .help
        case "nick":
            self = .unknown("/nick needs a new nick")
        default:
            self = .unknown("unknown command \(text.split(separator: " ").first ?? ""); /help lists them")
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
