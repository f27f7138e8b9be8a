/// A stored chat message; the same shape in events, history and HTTP answers.
public struct ChatMessage: Codable, Hashable, Sendable {
    public var id: Int64
    public var nick: String
    public var text: String
    public var ts: Timestamp
    public var clientID: String?
    /// The id of the message this one answers (§11); each of these four is absent where it does not apply.
    public var replyTo: Int64?
    public var editedAt: Timestamp?
    /// `true` once deleted (then `text` is empty and there are no reactions); otherwise absent.
    public var deleted: Bool?
    /// In the order each emoji was first added; absent when there are none.
    public var reactions: [Reaction]?
    /// The files it carries (§14); absent when none, and once deleted.
    public var attachments: [Attachment]?
    /// `true` when a verified identity (§13) sent it; otherwise absent.
    public var verified: Bool?

    public init(
        id: Int64,
        nick: String,
        text: String,
        ts: Timestamp,
        clientID: String? = nil,
        replyTo: Int64? = nil,
        editedAt: Timestamp? = nil,
        deleted: Bool? = nil,
        reactions: [Reaction]? = nil,
        attachments: [Attachment]? = nil,
        verified: Bool? = nil
    ) {
        self.id = id
        self.nick = nick
        self.text = text
        self.ts = ts
        self.clientID = clientID
        self.replyTo = replyTo
        self.editedAt = editedAt
        self.deleted = deleted
        self.reactions = reactions
        self.attachments = attachments
        self.verified = verified
    }

    /// Whether the message carries none of the living-message fields: its JSON is the version 1 shape.
    public var isPlain: Bool {
        replyTo == nil && editedAt == nil && deleted == nil && reactions == nil && attachments == nil && verified == nil
    }

    enum CodingKeys: String, CodingKey {
        case id, nick, text, ts, deleted, reactions, attachments, verified
        case clientID = "client_id"
        case replyTo = "reply_to"
        case editedAt = "edited_at"
    }
}

/// One emoji on a message and who added it, in the order they reacted, by the nick each had then.
public struct Reaction: Codable, Hashable, Sendable {
    public var emoji: String
    public var nicks: [String]

    public init(emoji: String, nicks: [String]) {
        self.emoji = emoji
        self.nicks = nicks
    }
}

/// Room metadata as shown in `welcome`, and in the `room` event (§12).
public struct RoomInfo: Codable, Hashable, Sendable {
    public var code: String
    public var name: String?
    public var createdAt: Timestamp
    /// §12: absent from servers without room owners; the server always sends all three.
    public var topic: String?
    public var locked: Bool?
    public var slowMode: Int?

    public init(code: String, name: String?, createdAt: Timestamp, topic: String? = nil, locked: Bool? = nil, slowMode: Int? = nil) {
        self.code = code
        self.name = name
        self.createdAt = createdAt
        self.topic = topic
        self.locked = locked
        self.slowMode = slowMode
    }

    enum CodingKeys: String, CodingKey {
        case code, name, topic, locked
        case createdAt = "created_at"
        case slowMode = "slow_mode"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(code, forKey: .code)
        try container.encode(name, forKey: .name)  // explicit null, as the contract shows
        try container.encode(createdAt, forKey: .createdAt)
        if let locked {
            try container.encode(topic, forKey: .topic)  // explicit null beside the other settings
            try container.encode(locked, forKey: .locked)
            try container.encode(slowMode ?? 0, forKey: .slowMode)
        }
    }
}
