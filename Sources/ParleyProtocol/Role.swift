/// What a connection may do in its room (§12): the `role` of `welcome`.
///
/// An owner key, the admin token or a token's `role` claim (§13) grants `owner`; a moderator key or the
/// claim `moderator` grants `moderator`; everyone else is a `member`.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    case member
    case moderator
    case owner

    /// Owners and moderators may moderate, and are exempt from a locked room and slow mode.
    public var moderates: Bool { self != .member }

    public static func < (lhs: Role, rhs: Role) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .member: 0
        case .moderator: 1
        case .owner: 2
        }
    }
}
