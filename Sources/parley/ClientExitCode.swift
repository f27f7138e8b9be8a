import ArgumentParser
import ParleyClient

/// The exit codes of `parley chat` and `parley create-room` (documented in docs/CLI.md), after sysexits.h.
enum ClientExitCode {
    /// Bad usage: a malformed URL, a missing or invalid room or nick, an unknown option.
    static let usage: Int32 = 64
    /// The server refused the request's data (HTTP 400 or 413).
    static let dataError: Int32 = 65
    /// No such room (HTTP 404, e.g. an unknown code on a server run with `--room-creation api`).
    static let noSuchRoom: Int32 = 66
    /// The server cannot be reached, or is busy or shutting down (HTTP 429, 503).
    static let unavailable: Int32 = 69
    /// Lines were still unacknowledged when the wait at the end of input ran out, or another client took
    /// over the session: try again.
    static let temporaryFailure: Int32 = 75
    /// The server does not allow this client (HTTP 403, e.g. its Origin), or wants a sign-in it lacks (401).
    static let forbidden: Int32 = 77

    /// The exit code for a client error.
    static func code(for error: ChatClientError) -> Int32 {
        switch error.kind {
        case .usage: usage
        case .refused(let status):
            switch status {
            case 400, 413: dataError
            case 401, 403: forbidden
            case 404: noSuchRoom
            case 429, 503: unavailable
            default: 1
            }
        case .unreachable: unavailable
        case .replaced, .unacknowledged: temporaryFailure
        }
    }

    /// Writes `parley: error: …` to standard error and returns the exit to throw.
    static func fail(_ error: ChatClientError) -> ExitCode {
        // The message may quote the server's answer: escaped, like everything else the server says.
        Terminal.standardError.write("parley: error: \(TerminalText.escape(error.description))\n")
        if case .refused(403) = error.kind, error.message.contains("origin") {
            Terminal.standardError.write("parley: hint: the server rejects this client's Origin header; see docs/CLI.md\n")
        }
        return ExitCode(code(for: error))
    }
}
