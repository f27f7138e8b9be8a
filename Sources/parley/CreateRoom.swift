import ArgumentParser
import Foundation
import ParleyClient

/// `parley create-room URL`: asks the server for a new private room and prints its code and invite link.
struct CreateRoom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-room",
        abstract: "Create a private room; prints its code and invite URL.",
        discussion: """
            URL is the server, http(s)://HOST:PORT or ws(s)://HOST:PORT. Output: a line `code CODE`, a line \
            `invite URL` and a line `owner URL` (the owner key in the link's #key= fragment: keep it secret), or with \
            --json the server's JSON answer.

            A server started with --auth required creates rooms only for a signed identity token (--token, or \
            PARLEY_TOKEN) or its admin token (--token takes that too).

            Exit codes: 0 created; 64 bad usage or malformed URL; 65 refused as invalid (400, 413); 66 not found \
            (404); 69 server unreachable or unavailable; 77 not signed in or forbidden (401, 403).
            """
    )

    @Argument(help: "The server: http(s)://HOST:PORT or ws(s)://HOST:PORT.") var url: String
    @Option(help: "A display name for the room (at most 100 characters).") var name: String?
    @Flag(help: "Print the server's JSON answer instead.") var json = false
    @Option(help: "A signed identity token (also PARLEY_TOKEN) or the server's admin token, sent as Authorization: Bearer.")
    var token: String?

    func run() async throws {
        do {
            let endpoint = try ChatEndpoint(parsing: url)
            var api = ParleyAPI(endpoint: endpoint)
            api.bearer = token ?? ProcessInfo.processInfo.environment["PARLEY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            let (room, answer) = try await api.createRoom(name: name)
            if json {
                Terminal.standardOutput.write(TerminalText.escapeJSON(answer) + "\n")
            } else {
                Terminal.standardOutput.write("code \(TerminalText.escape(room.code))\ninvite \(TerminalText.escape(room.url))\n")
                if let ownerURL = room.ownerURL {
                    Terminal.standardOutput.write("owner \(TerminalText.escape(ownerURL))\n")
                    Terminal.standardError.write(
                        "parley: the owner URL is a secret: whoever holds it owns the room. Share the invite URL instead.\n"
                    )
                }
            }
        } catch {
            throw ClientExitCode.fail(error)
        }
    }
}
