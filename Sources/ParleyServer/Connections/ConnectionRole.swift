import ParleyProtocol
import Synchronization

/// A connection's role in its room (§12), read with one atomic load where a message is checked. The room
/// keeps the cells of members who hold a moderator key, so revoking the keys turns them into members.
final class ConnectionRole: Sendable {
    private let raw: Atomic<UInt8>

    init(_ role: Role = .member) {
        raw = Atomic(Self.code(role))
    }

    var role: Role {
        switch raw.load(ordering: .relaxed) {
        case 2: .owner
        case 1: .moderator
        default: .member
        }
    }

    func set(_ role: Role) {
        raw.store(Self.code(role), ordering: .relaxed)
    }

    private static func code(_ role: Role) -> UInt8 {
        switch role {
        case .member: 0
        case .moderator: 1
        case .owner: 2
        }
    }
}

/// What a room's rules look at in whoever posts (§12): its role, and what a ban may name.
struct Poster: Sendable {
    var role: Role
    /// A WebSocket member's session; nil over HTTP.
    var session: SessionSecret?
    /// The verified subject (§13), when the client has one.
    var subject: String?
    var address: ClientAddress?

    /// The digest bans compare sessions by.
    var sessionDigest: SecretDigest? { session.map { SecretDigest(of: $0.description) } }
}
