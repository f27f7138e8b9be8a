import ParleyProtocol

/// The commands of the room's owner and moderators (§12), handled like the others: refused at once when the
/// connection's role does not allow them, otherwise run on a worker (they all touch storage).
extension ChatConnection {
    func moderate(_ command: ClientCommand, in room: Room) throws(ProtocolError) -> CommandResult {
        let role = self.role.role
        guard role.moderates else { throw ProtocolError(.forbidden, "only the room's owner and moderators may do that") }
        let moderation = context.moderation
        switch command {
        case .kick(let nick):
            return wait(clientID: nil) {
                guard try await moderation.kick(nick: nick, in: room) else { throw Self.noMember }
            }
        case .ban(let nick, let seconds):
            return wait(clientID: nil) {
                guard try await moderation.ban(nick: nick, seconds: seconds, in: room) else { throw Self.noMember }
            }
        case .unban(let nick):
            return wait(clientID: nil) {
                guard try await moderation.unban(nick: nick, in: room) else { throw ProtocolError(.notFound, "nobody of that nick is banned") }
            }
        case .bans:
            send(.bans(moderation.bans.list(room: room.code).map(\.info)))
            return .finished
        case .room(let change):
            return wait(clientID: nil) { try await moderation.change(change, in: room) }
        case .moderatorKey:
            guard role == .owner else { throw Self.ownerOnly }
            let host = self.host
            return wait(clientID: nil) {
                let key = try await moderation.issueModeratorKey(in: room)
                self.send(.moderatorKey(key: key, url: moderation.keyURL(code: room.code, key: key, host: host)))
            }
        case .revokeModeratorKeys:
            guard role == .owner else { throw Self.ownerOnly }
            return wait(clientID: nil) { try await moderation.revokeModeratorKeys(in: room) }
        default:
            return .finished
        }
    }

    /// A locked room or slow mode (§12): only checked while the room has either.
    @discardableResult
    func checkRules(in room: Room) throws(ProtocolError) -> RoomRules.SlowModePass? {
        let poster = Poster(role: role.role, session: room.session(of: id), subject: subject, address: nil)
        return try context.moderation.rules.check(room.settings, roomID: room.record.id, poster: poster)
    }

    static let noMember = ProtocolError(.notFound, "no member of that nick in this room")
    static let ownerOnly = ProtocolError(.forbidden, "only the room's owner may do that")
}
