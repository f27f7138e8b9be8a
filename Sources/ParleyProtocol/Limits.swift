/// The limits a server enforces on each client, sent in `welcome.limits` so that no client copies them
/// (contract §8, version 2). The defaults are the contract's (§6, §14), and the server's configuration starts from them.
public struct Limits: Codable, Hashable, Sendable {
    /// Largest message text, in bytes of UTF-8.
    public var maxMessageBytes: Int
    /// Largest uploaded file, in bytes.
    public var maxFileBytes: Int
    /// Messages a connection may send at once before the rate applies.
    public var rateBurst: Int
    /// Messages per second after the burst; 0 means no limit.
    public var ratePerSecond: Double

    public static let defaultMaxMessageBytes = 4096
    public static let defaultMaxFileBytes = 10 * 1024 * 1024
    public static let defaultRateBurst = 20
    public static let defaultRatePerSecond = 5.0
    /// Largest WebSocket message, after reassembly (§5, §6); not sent in `welcome`, the text limit is.
    public static let defaultMaxFrameBytes = 64 * 1024
    /// Sockets from one client address that may be unfinished (no complete upgrade or request head) at once;
    /// fixed by the contract (§6, version 2).
    public static let unfinishedSocketsPerAddress = 64

    /// The `limit` a `history` command or `GET /api/rooms/{code}/messages` may ask for (§5, §7). Fixed by the
    /// contract, so not sent in `welcome`.
    public static let historyPageSizes: ClosedRange<Int> = 1...200
    /// The page size when a request gives no `limit`.
    public static let defaultHistoryPageSize = 50
    /// The newest messages a `welcome` carries for a client that resumes with `since` (§4); more sets `truncated`.
    public static let resumedHistoryMessages = 1000
    /// The most changed messages a `welcome` carries in `updates` for a client that resumes with `since` and `rev`
    /// (§11); more sets `updates_truncated`.
    public static let resumedUpdates = 1000
    /// At most this many distinct emoji on one message (§11); more is `too_large`.
    public static let maxReactionEmoji = 20
    /// At most this many members (sessions) react to one message (§11); one more is `too_large`. Every update of a
    /// message carries every reactor's nick, so without a cap one message's state would grow with the room.
    public static let maxReactors = 100
    /// Search (§15): the longest query in bytes of UTF-8, and the page sizes.
    public static let maxSearchQueryBytes = 200
    public static let searchPageSizes = 1...100
    public static let defaultSearchPageSize = 20

    /// The page size a request asks for (``defaultHistoryPageSize`` when it gives none), or the contract's
    /// `bad_request` when it is outside ``historyPageSizes``.
    public static func historyPageSize(_ requested: Int?) throws(ProtocolError) -> Int {
        let size = requested ?? defaultHistoryPageSize
        guard historyPageSizes.contains(size) else {
            throw ProtocolError(.badRequest, "limit must be \(historyPageSizes.lowerBound)-\(historyPageSizes.upperBound)")
        }
        return size
    }

    public init(
        maxMessageBytes: Int = Limits.defaultMaxMessageBytes,
        maxFileBytes: Int = Limits.defaultMaxFileBytes,
        rateBurst: Int = Limits.defaultRateBurst,
        ratePerSecond: Double = Limits.defaultRatePerSecond
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxFileBytes = maxFileBytes
        self.rateBurst = rateBurst
        self.ratePerSecond = ratePerSecond
    }

    enum CodingKeys: String, CodingKey {
        case maxMessageBytes = "max_message_bytes"
        case maxFileBytes = "max_file_bytes"
        case rateBurst = "rate_burst"
        case ratePerSecond = "rate_per_second"
    }
}
