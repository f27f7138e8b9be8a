/// Every frame the server sends: one JSON object with a `type` (contract §3).
public enum ServerEvent: Hashable, Sendable {
    case welcome(Welcome)
    case message(ChatMessage)
    /// A message was edited, deleted or reacted to (§11): its current state, and the room revision of the change.
    case update(rev: Int64, message: ChatMessage)
    case join(nick: String, ts: Timestamp)
    case leave(nick: String, ts: Timestamp)
    case nick(from: String, to: String, ts: Timestamp)
    case typing(nick: String)
    case history(messages: [ChatMessage], hasMore: Bool)
    case pong
    /// `clientID` names the refused message when it carried a `client_id` (an addition to the contract,
    /// so clients know which line was refused even while earlier lines still await their echo).
    case error(code: ErrorCode, message: String, clientID: String? = nil)
    /// §12: a member was kicked or banned; sent with type `leave` and its `reason`.
    case removed(nick: String, reason: LeaveReason, ts: Timestamp)
    /// §12: the room's settings changed (all of them, as in `welcome.room`).
    case room(RoomInfo)
    /// §12: the answer to `bans`.
    case bans([BanInfo])
    /// §12: the answer to `moderator_key`: a new moderator key and its link.
    case moderatorKey(key: String, url: String)

    /// The first frame after the upgrade.
    public struct Welcome: Codable, Hashable, Sendable {
        public var room: RoomInfo
        public var nick: String
        public var session: String
        public var members: [String]
        public var history: [ChatMessage]
        public var lastID: Int64
        public var truncated: Bool
        /// What this server allows each client; absent from servers older than protocol version 2.
        public var limits: Limits?
        /// The room's newest revision (§11); absent from servers without living messages.
        public var rev: Int64?
        /// With `since` and `rev`: the current state of every message with id ≤ `since` changed after `rev`,
        /// oldest change first; otherwise absent.
        public var updates: [ChatMessage]?
        /// With `updates`: whether more changes exist than were sent (the client reloads what it shows).
        public var updatesTruncated: Bool?
        /// What this connection may do in the room (§12); absent from servers without room owners.
        public var role: Role?
        /// The members of `members` who are verified identities (§13); absent when none is.
        public var verifiedMembers: [String]?

        public init(
            room: RoomInfo,
            nick: String,
            session: String,
            members: [String],
            history: [ChatMessage],
            lastID: Int64,
            truncated: Bool,
            limits: Limits? = nil,
            rev: Int64? = nil,
            updates: [ChatMessage]? = nil,
            updatesTruncated: Bool? = nil,
            role: Role? = nil,
            verifiedMembers: [String]? = nil
        ) {
            self.room = room
            self.nick = nick
            self.session = session
            self.members = members
            self.history = history
            self.lastID = lastID
            self.truncated = truncated
            self.limits = limits
            self.rev = rev
            self.updates = updates
            self.updatesTruncated = updatesTruncated
            self.role = role
            self.verifiedMembers = verifiedMembers
        }

        enum CodingKeys: String, CodingKey {
            case room, nick, session, members, history, truncated, limits, rev, updates, role
            case lastID = "last_id"
            case updatesTruncated = "updates_truncated"
            case verifiedMembers = "verified_members"
        }
    }

    /// The `type` field of this event.
    public var type: String {
        switch self {
        case .welcome: "welcome"
        case .message: "message"
        case .update: "update"
        case .join: "join"
        case .leave: "leave"
        case .nick: "nick"
        case .typing: "typing"
        case .history: "history"
        case .pong: "pong"
        case .error: "error"
        case .removed: "leave"
        case .room: "room"
        case .bans: "bans"
        case .moderatorKey: "moderator_key"
        }
    }
}

extension ServerEvent: Codable {
    enum CodingKeys: String, CodingKey {
        case type, nick, ts, from, to, messages, code, message, rev, reason, room, bans, key, url
        case hasMore = "has_more"
        case clientID = "client_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .welcome(let welcome):
            try welcome.encode(to: encoder)
        case .message(let message):
            try message.encode(to: encoder)
        case .update(let rev, let message):
            try container.encode(rev, forKey: .rev)
            try container.encode(message, forKey: .message)
        case .join(let nick, let ts), .leave(let nick, let ts):
            try container.encode(nick, forKey: .nick)
            try container.encode(ts, forKey: .ts)
        case .nick(let from, let to, let ts):
            try container.encode(from, forKey: .from)
            try container.encode(to, forKey: .to)
            try container.encode(ts, forKey: .ts)
        case .typing(let nick):
            try container.encode(nick, forKey: .nick)
        case .history(let messages, let hasMore):
            try container.encode(messages, forKey: .messages)
            try container.encode(hasMore, forKey: .hasMore)
        case .pong:
            break
        case .error(let code, let message, let clientID):
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
            try container.encodeIfPresent(clientID, forKey: .clientID)
        case .removed(let nick, let reason, let ts):
            try container.encode(nick, forKey: .nick)
            try container.encode(ts, forKey: .ts)
            try container.encode(reason, forKey: .reason)
        case .room(let room):
            try container.encode(room, forKey: .room)
        case .bans(let bans):
            try container.encode(bans, forKey: .bans)
        case .moderatorKey(let key, let url):
            try container.encode(key, forKey: .key)
            try container.encode(url, forKey: .url)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .type) {
        case "welcome":
            self = .welcome(try Welcome(from: decoder))
        case "message":
            self = .message(try ChatMessage(from: decoder))
        case "update":
            self = .update(rev: try container.decode(Int64.self, forKey: .rev), message: try container.decode(ChatMessage.self, forKey: .message))
        case "join":
            self = .join(nick: try container.decode(String.self, forKey: .nick), ts: try container.decode(Timestamp.self, forKey: .ts))
        case "leave":
            let (nick, ts) = (try container.decode(String.self, forKey: .nick), try container.decode(Timestamp.self, forKey: .ts))
            if let reason = try container.decodeIfPresent(LeaveReason.self, forKey: .reason) {
                self = .removed(nick: nick, reason: reason, ts: ts)
            } else {
                self = .leave(nick: nick, ts: ts)
            }
        case "room":
            self = .room(try container.decode(RoomInfo.self, forKey: .room))
        case "bans":
            self = .bans(try container.decode([BanInfo].self, forKey: .bans))
        case "moderator_key":
            self = .moderatorKey(key: try container.decode(String.self, forKey: .key), url: try container.decode(String.self, forKey: .url))
        case "nick":
            self = .nick(
                from: try container.decode(String.self, forKey: .from),
                to: try container.decode(String.self, forKey: .to),
                ts: try container.decode(Timestamp.self, forKey: .ts)
            )
        case "typing":
            self = .typing(nick: try container.decode(String.self, forKey: .nick))
        case "history":
            self = .history(
                messages: try container.decode([ChatMessage].self, forKey: .messages),
                hasMore: try container.decode(Bool.self, forKey: .hasMore)
            )
        case "pong":
            self = .pong
        case "error":
            self = .error(
                code: try container.decode(ErrorCode.self, forKey: .code),
                message: try container.decode(String.self, forKey: .message),
                clientID: try container.decodeIfPresent(String.self, forKey: .clientID)
            )
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown event type \(other)")
        }
    }
}
