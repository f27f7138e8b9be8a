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
