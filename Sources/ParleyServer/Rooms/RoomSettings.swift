import ParleyProtocol

/// A room's changeable settings (§12): what `welcome.room` and the `room` event show besides the code.
public struct RoomSettings: Sendable, Hashable {
    public var name: String?
    public var topic: String?
    /// Only the owner and moderators may post.
    public var locked = false
    /// Seconds a member must wait between messages; 0 is off.
    public var slowMode = 0

    public init(name: String? = nil, topic: String? = nil, locked: Bool = false, slowMode: Int = 0) {
        self.name = name
        self.topic = topic
        self.locked = locked
        self.slowMode = slowMode
    }

    /// Whether posting needs more than the rate limit: a role check, or slow mode's clock.
    var restricts: Bool { locked || slowMode > 0 }

    /// These settings with `change` applied (already validated).
    func applying(_ change: RoomChange) -> RoomSettings {
        var settings = self
        if let name = change.name { settings.name = name }
        if let topic = change.topic { settings.topic = topic }
        if let locked = change.locked { settings.locked = locked }
        if let slowMode = change.slowMode { settings.slowMode = slowMode }
        return settings
    }

    func info(_ record: RoomRecord) -> RoomInfo {
        RoomInfo(code: record.code, name: name, createdAt: record.createdAt, topic: topic, locked: locked, slowMode: slowMode)
    }
}

/// One banned member (§12): what refuses it, each optional, and until when.
public struct Ban: Sendable, Hashable {
    public var nick: String
    /// Nil: until unbanned.
    public var until: Timestamp?
    var session: SecretDigest?
    var subject: String?
    /// ``ClientAddress``'s written form.
    var address: String?

    func isActive(at now: Timestamp) -> Bool {
        until.map { $0.milliseconds > now.milliseconds } ?? true
    }

    /// Whether this ban refuses a client with these traits.
    func refuses(session: SecretDigest?, subject: String?, address: String?) -> Bool {
        if let banned = self.session, let session, banned.matches(session) { return true }
        if let banned = self.subject, let subject, banned == subject { return true }
        if let banned = self.address, let address, banned == address { return true }
        return false
    }

    var info: BanInfo { BanInfo(nick: nick, until: until) }
}

extension SecretDigest: Hashable {
    public static func == (lhs: SecretDigest, rhs: SecretDigest) -> Bool { lhs.matches(rhs) }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
