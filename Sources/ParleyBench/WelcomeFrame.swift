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

    public init(nick: String?, session: String?, lastID: Int64?, historyIDs: [Int64]) {
        self.nick = nick
        self.session = session
        self.lastID = lastID
        self.historyIDs = historyIDs
    }
}
