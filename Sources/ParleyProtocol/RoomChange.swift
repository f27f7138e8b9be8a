/// What a `room` command changes (§12): each field absent when it stays as it is. `name` and `topic` are
/// double optionals, as JSON `null` clears them while a missing key keeps them.
public struct RoomChange: Hashable, Sendable {
    public var name: String??
    public var topic: String??
    public var locked: Bool?
    public var slowMode: Int?

    public init(name: String?? = nil, topic: String?? = nil, locked: Bool? = nil, slowMode: Int? = nil) {
        self.name = name
        self.topic = topic
        self.locked = locked
        self.slowMode = slowMode
    }

    /// The contract's bounds on room settings (§7, §12), in one place.
    public static let maxNameScalars = 100
    public static let maxTopicScalars = 300
    public static let slowModeSeconds: ClosedRange<Int> = 0...3600

    public var isEmpty: Bool { name == nil && topic == nil && locked == nil && slowMode == nil }

    /// `bad_request` unless every given field is within the contract's bounds and at least one is given.
    public func validated() throws(ProtocolError) -> RoomChange {
        guard !isEmpty else { throw ProtocolError(.badRequest, "room needs one of name, topic, locked, slow_mode") }
        if case .some(.some(let name)) = name, name.unicodeScalars.count > Self.maxNameScalars {
            throw ProtocolError(.badRequest, "name must be at most \(Self.maxNameScalars) characters")
        }
        if case .some(.some(let topic)) = topic, topic.unicodeScalars.count > Self.maxTopicScalars {
            throw ProtocolError(.badRequest, "topic must be at most \(Self.maxTopicScalars) characters")
        }
        if let slowMode, !Self.slowModeSeconds.contains(slowMode) {
            throw ProtocolError(.badRequest, "slow_mode must be 0-3600 seconds")
        }
        return self
    }
}

/// One entry of the `bans` reply (§12): the nick the member had, and when the ban ends (nil: until unbanned).
public struct BanInfo: Codable, Hashable, Sendable {
    public var nick: String
    public var until: Timestamp?

    public init(nick: String, until: Timestamp?) {
        self.nick = nick
        self.until = until
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nick, forKey: .nick)
        try container.encode(until, forKey: .until)  // explicit null: banned until lifted
    }

    enum CodingKeys: String, CodingKey {
        case nick, until
    }
}

/// Why a member left, when it did not leave by itself (§12): the `reason` of `leave`, and of the close.
public enum LeaveReason: String, Codable, Hashable, Sendable {
    case kicked
    case banned
}
