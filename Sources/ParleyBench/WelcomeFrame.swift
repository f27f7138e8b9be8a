/// What a resume check reads from a `welcome`.
public struct WelcomeFrame: Sendable, Equatable {
    /// The nick the server gave this connection.
    public var nick: String?
    /// The secret that reclaims the nick on the next connection.
    public var session: String?
    /// The newest id in the room.
    public var lastID: Int64?
    /// The ids of `history`, oldest first, as sent.
    public var historyIDs: [Int64]
    /// The bench's marker of each message in `history` (`nil` for a text without one), in the same order.
    public var historyStamps: [BenchStamp?]

    public init(nick: String?, session: String?, lastID: Int64?, historyIDs: [Int64], historyStamps: [BenchStamp?]? = nil) {
        self.nick = nick
        self.session = session
        self.lastID = lastID
        self.historyIDs = historyIDs
        self.historyStamps = historyStamps ?? historyIDs.map { _ in nil }
    }
}
