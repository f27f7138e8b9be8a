/// A stored chat message; the same shape in events, history and HTTP answers.
public struct ChatMessage: Codable, Hashable, Sendable {
    public var id: Int64
    public var nick: String
    public var text: String
    public var ts: Timestamp
    public var clientID: String?

    public init(id: Int64, nick: String, text: String, ts: Timestamp, clientID: String? = nil) {
        self.id = id
        self.nick = nick
        self.text = text
        self.ts = ts
        self.clientID = clientID
    }

    enum CodingKeys: String, CodingKey {
        case id, nick, text, ts
        case clientID = "client_id"
    }
}

/// Room metadata as shown in `welcome`.
public struct RoomInfo: Codable, Hashable, Sendable {
    public var code: String
    public var name: String?
    public var createdAt: Timestamp

    public init(code: String, name: String?, createdAt: Timestamp) {
        self.code = code
        self.name = name
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case code, name
        case createdAt = "created_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(name, forKey: .name)  // explicit null, as the contract shows
        try container.encode(createdAt, forKey: .createdAt)
    }
}
