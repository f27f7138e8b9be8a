import Foundation
import ParleyProtocol

/// Who a valid token says its holder is (contract §13): what a connection or an HTTP request acts as.
struct VerifiedIdentity: Sendable, Equatable {
    /// The `sub` claim: one person across all their connections.
    var subject: String
    /// The display nick, already normalised like any nick.
    var nick: String
    /// The room codes the token is valid for; nil: every room.
    var rooms: Set<String>?
    /// The role the token grants in the rooms it lists.
    var role: Role?
    /// The `exp` claim.
    var expires: Date

    func allows(room code: String) -> Bool {
        rooms?.contains(code) ?? true
    }

    /// The role the token grants in `code`: only a token that lists its rooms grants one, so a leaked
    /// all-rooms token cannot moderate everywhere.
    func role(in code: String) -> Role? {
        guard let rooms, rooms.contains(code) else { return nil }
        return role
    }
}
