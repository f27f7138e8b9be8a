/// Why a chat session or an API call stopped. Each case maps to one documented exit code of `parley`.
public struct ChatClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Equatable, Sendable {
        /// The URL or an argument cannot be used (nothing was sent).
        case usage
        /// The server answered an HTTP error (a refused upgrade or an API call).
        case refused(status: Int)
        /// The server could not be reached, or answered something that is not Parley.
        case unreachable
        /// Another connection took over this session (close code 4001).
        case replaced
        /// Input ended but some lines were not acknowledged within the wait.
        case unacknowledged(count: Int)
    }

    public var kind: Kind
    /// The contract error code from the server, when it sent one.
    public var code: String?
    public var message: String

    public init(kind: Kind, code: String? = nil, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    static func invalidURL(_ url: String, _ reason: String) -> ChatClientError {
        ChatClientError(kind: .usage, message: "malformed URL \(url): \(reason)")
    }

    public var description: String {
        if let code { return "\(code): \(message)" }
        return message
    }
}
