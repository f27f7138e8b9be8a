/// How a ``ChatSession`` connects and how patient it is.
public struct ChatSessionConfiguration: Sendable {
    public var endpoint: ChatEndpoint
    public var room: String
    /// The nick to ask for; nil lets the server pick `guest-XXXX`.
    public var nick: String?
    /// An owner or moderator key, or the admin token (§12), sent as `key=` on every connection.
    public var key: String?
    /// First pause before reconnecting; doubled after each failure up to ``maxBackoff``.
    public var initialBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(8)
    /// How long to wait at the end of input for lines to be acknowledged.
    public var acknowledgementTimeout: Duration = .seconds(10)
    /// Unacknowledged lines kept at most; more are refused with a status.
    public var maxPending = 10_000
    /// Largest WebSocket message accepted from the server (a `welcome` may carry 1,000 messages).
    public var maxFrameBytes = 16 << 20
    /// Sending pace until `welcome` announces the server's limits (then a little under those), kept under
    /// the contract's default rate limit (burst 20, then 5 per second).
    public var sendBurst = 15
    public var sendPerSecond = 4.5

    public init(endpoint: ChatEndpoint, room: String, nick: String?) {
        self.endpoint = endpoint
        self.room = room
        self.nick = nick
    }
}
