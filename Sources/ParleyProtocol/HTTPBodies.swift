/// The answer to `POST /api/rooms` (contract §7).
public struct CreatedRoom: Codable, Hashable, Sendable {
    public var code: String
    public var name: String?
    public var createdAt: Timestamp
    /// The invite link, `http(s)://HOST:PORT/r/CODE`.
    public var url: String
    public var wsURL: String
    /// §12: the owner key, and the invite link carrying it in its fragment; absent from older servers.
    public var ownerKey: String?
    public var ownerURL: String?

    public init(code: String, name: String?, createdAt: Timestamp, url: String, wsURL: String, ownerKey: String? = nil, ownerURL: String? = nil) {
        self.code = code
        self.name = name
        self.createdAt = createdAt
        self.url = url
        self.wsURL = wsURL
        self.ownerKey = ownerKey
        self.ownerURL = ownerURL
    }

    enum CodingKeys: String, CodingKey {
        case code, name, url
        case createdAt = "created_at"
        case wsURL = "ws_url"
        case ownerKey = "owner_key"
        case ownerURL = "owner_url"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(name, forKey: .name)  // explicit null, as the contract shows
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(url, forKey: .url)
        try container.encode(wsURL, forKey: .wsURL)
        try container.encodeIfPresent(ownerKey, forKey: .ownerKey)
        try container.encodeIfPresent(ownerURL, forKey: .ownerURL)
    }
}

/// Every HTTP error body: `{"error": {"code": "...", "message": "..."}}`.
public struct HTTPErrorBody: Codable, Hashable, Sendable {
    public struct Detail: Codable, Hashable, Sendable {
        /// A contract ``ErrorCode`` raw value; kept as text so a client can read codes it does not know.
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: ErrorCode, message: String) {
        error = Detail(code: code.rawValue, message: message)
    }
}
