import Foundation
import ParleyProtocol

/// What nodes tell each other over PostgreSQL's `NOTIFY parley`: a small JSON object, never message text,
/// so no payload comes near NOTIFY's 8000-byte limit (a nick is at most 32 characters).
struct ClusterNotice: Codable, Equatable, Sendable {
    enum Kind: String, Codable, Sendable {
        /// `room` has messages up to `last` (sent by `parley_append` inside the commit).
        case message
        /// A message of `room` was changed under revision `rev` (sent by `parley_change` inside the commit).
        case update
        case join, leave, nick, typing
        /// The member `connection` on node `target` was taken over by its session elsewhere.
        case replace
        /// Moderation (§12, ``RoomModeration``): close the member `nick` here (kick), ban it here (`last`: until,
        /// in milliseconds), read the room's bans or settings again, demote moderator-key holders, or close
        /// everyone because the room was deleted.
        case kick, ban, bans, settings, revoke, deleted
    }

    var k: Kind
    var room: String
    /// The sending node; a node ignores its own notices. Empty when no node sent it (a sweep of a dead node).
    var node: String
    var last: Int64?
    var rev: Int64?
    var nick: String?
    var from: String?
    var to: String?
    var target: String?
    var connection: UInt64?
    /// A `leave` of a kicked or banned member (§12), sent by its node before the members table's plain one.
    var reason: LeaveReason?

    /// The event members on other nodes see, if any.
    var event: ServerEvent? {
        switch k {
        case .join: nick.map { .join(nick: $0, ts: .now()) }
        case .leave:
            if let nick, let reason { .removed(nick: nick, reason: reason, ts: .now()) } else { nick.map { .leave(nick: $0, ts: .now()) } }
        case .typing: nick.map { .typing(nick: $0) }
        case .nick:
            if let from, let to { .nick(from: from, to: to, ts: .now()) } else { nil }
        case .message, .update, .replace, .kick, .ban, .bans, .settings, .revoke, .deleted: nil
        }
    }

    var payload: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self)
    }

    init(_ kind: Kind, room: String, node: String) {
        self.k = kind
        self.room = room
        self.node = node
    }

    init?(payload: String) {
        guard let decoded = try? JSONDecoder().decode(ClusterNotice.self, from: Data(payload.utf8)) else { return nil }
        self = decoded
    }
}

extension ClusterNotice {
    /// Handled by ``RoomModeration`` rather than by the live room.
    var isModeration: Bool {
        switch k {
        case .kick, .ban, .bans, .settings, .revoke, .deleted: true
        case .message, .update, .join, .leave, .nick, .typing, .replace: false
        }
    }
}
