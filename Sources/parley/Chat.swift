import ArgumentParser
import Foundation
import Logging
import ParleyClient
import ParleyProtocol

/// `parley chat URL`: an interactive (or scripted) terminal chat client that resumes by itself.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat in a room: prints history and live events, sends each line typed.",
        discussion: """
            URL is ws://HOST:PORT, wss://HOST:PORT, or an invite URL http(s)://HOST:PORT/r/CODE (then --room is \
            optional). Lines starting with / are commands: /nick NEW, /history [N], /members, /reply ID TEXT, /edit [ID] TEXT, \
            /delete ID, /react ID EMOJI, /unreact ID EMOJI, /search WORDS, /ids [on|off], /quit, /help; with a room key: \
            /kick NICK, /ban NICK [SECONDS], /unban NICK, /bans, /topic TEXT, /lock, /unlock, /slow SECONDS, /modlink, /revoke. \
            Messages go to standard output, status to standard error. At end of input the client waits up to \
            --ack-timeout seconds for its lines to be acknowledged, then exits.

            Exit codes: 0 done; 64 bad usage or malformed URL; 65 refused as invalid (400); 66 no such room (404); \
            69 server unreachable or unavailable (429, 503); 75 lines unacknowledged in time, or session taken \
            over; 77 forbidden (403).
            """
    )

    @Argument(help: "ws://HOST:PORT, wss://HOST:PORT or an invite URL http(s)://HOST:PORT/r/CODE.")
    var url: String

    @Option(help: "Room code (optional with an invite URL).") var room: String?
    @Option(help: "Your nick (the server picks guest-XXXX without one).") var nick: String?
    @Option(help: "An owner or moderator key (or use the owner URL, …/r/CODE#key=KEY).") var key: String?
    @Option(help: "A signed identity token from your application (also PARLEY_TOKEN); you then chat under its nick, verified.")
    var token: String?
    @Option(help: "Seconds to wait at end of input for lines to be acknowledged.") var ackTimeout = 10
    @Option(help: "Log level for connection internals (trace … critical).") var logLevel = "critical"
    @Flag(name: .customLong("show-ids"), help: "Show message ids (#12), so they can be named in /reply, /edit, /delete and /react; /ids toggles.")
    var showIDs = false

    func validate() throws {
        guard ackTimeout >= 0 else { throw ValidationError("--ack-timeout must be 0 or more") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
    }

    func run() async throws {
        let endpoint: ChatEndpoint
        do {
            endpoint = try ChatEndpoint(parsing: url)
        } catch {
            throw ClientExitCode.fail(error)
        }
        guard let room = room ?? endpoint.room else {
            throw ClientExitCode.fail(ChatClientError(kind: .usage, message: "--room is required unless URL is an invite link …/r/CODE"))
        }
        do {
            _ = try RoomCode.validate(room)
            if let nick { _ = try Nick.normalize(nick) }
        } catch {
            throw ClientExitCode.fail(ChatClientError(kind: .usage, code: error.code.rawValue, message: error.message))
        }
        var configuration = ChatSessionConfiguration(endpoint: endpoint, room: room, nick: nick)
        configuration.acknowledgementTimeout = .seconds(ackTimeout)
        configuration.key = key ?? endpoint.key
        configuration.token = token ?? ProcessInfo.processInfo.environment["PARLEY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let level = Logger.Level(rawValue: logLevel) ?? .critical
        var logger = Logger(label: "parley.chat") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level

        let printer = ChatPrinter(showIDs: showIDs, fileBase: endpoint.httpBase)
        // An open room exists once someone has joined it, and an upload goes over HTTP, not through the session:
        // the first waits for this client's own join (a `/upload` on the first line of a script would else race it).
        let joined = Latch<Void>()
        var api = ParleyAPI(endpoint: endpoint)
        // A key grants what the room's rules ask (a locked room); without one, the token proves who uploads.
        api.bearer = configuration.key ?? configuration.token
        let input = StandardInputLines.make().compactMap { line -> ChatInput? in
            switch ChatLine(line) {
            case .input(.search(let query)):
                // Over HTTP (§15), answered here rather than by the session.
                do throws(ChatClientError) {
                    let found = try await api.search(room: room, query: query)
                    printer.show(.searchResults(query: query, messages: found.messages, hasMore: found.hasMore))
                } catch {
                    printer.show(.status(.searchFailed(error.message)))
                }
                return nil
            case .input(let input): return input
            case .upload(let path, let text):
                // Over HTTP, streamed from disk; the message carrying the file then goes through the session.
                // Nil: the session ended (refused, or the room is gone) before this client joined.
                guard await joined.wait() != nil else { return nil }
                do throws(ChatClientError) {
                    let file = try await api.upload(room: room, path: path) { sent, total in printer.progress(sent: sent, of: total) }
                    printer.progressDone()
                    return .sayWithFiles(text: text, files: [file.id])
                } catch {
                    printer.progressDone()
                    printer.note("upload failed: \(error.message)", error: true)
                    return nil
                }
            case .showIDs(let on):
                printer.note("message ids \(printer.setShowIDs(on) ? "shown" : "hidden")")
                return nil
            case .help:
                printer.note(ChatLine.helpText)
                return nil
            case .ignored:
                return nil
            case .unknown(let problem):
                printer.note(problem, error: true)
                return nil
            }
        }
        do {
            try await ChatSession(configuration: configuration, logger: logger).run(input: input) { output in
                if case .connected = output { joined.open() }
                printer.show(output)
            }
        } catch let error as ChatClientError {
            throw ClientExitCode.fail(error)
        }
    }
}
