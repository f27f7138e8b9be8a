import Logging
import ParleyProtocol

/// What owners and moderators do to a room (§12), on this node and, through ``ClusterNotice``s, on every
/// node: keys and the roles they grant, kicks, bans, settings, moderator keys and deleting a room.
///
/// Storage holds the truth (keys and sessions as digests only); each node keeps what the hot path reads in
/// memory: the bans in ``BanBook``, a live room's settings and each connection's ``ConnectionRole``.
final class RoomModeration: Sendable {
    let configuration: ServerConfiguration
    let store: any MessageStore
    let rooms: RoomRegistry
    let cluster: ClusterPresence?
    let bans: BanBook
    let rules: RoomRules
    let logger: Logger
    /// Where notices from other nodes wait for storage, never on the cluster listener.
    let work: ConnectionWork
    /// The digest of `--admin-token`; the token itself is not kept here.
    private let adminDigest: SecretDigest?

    init(
        configuration: ServerConfiguration,
        store: any MessageStore,
        rooms: RoomRegistry,
        cluster: ClusterPresence?,
        work: ConnectionWork,
        logger: Logger
    ) {
        self.work = work
        self.configuration = configuration
        self.store = store
        self.rooms = rooms
        self.cluster = cluster
        self.bans = BanBook()
        self.rules = RoomRules(bans: bans, store: store, rooms: rooms)
        self.logger = logger
        self.adminDigest = configuration.adminToken.map { SecretDigest(of: $0) }
    }

    // MARK: keys

    /// Whether `key` is the admin token (compared as digests, in constant time).
    func isAdminToken(_ key: some StringProtocol) -> Bool {
        guard let adminDigest else { return false }
        return adminDigest.matches(SecretDigest(of: key))
    }

    /// The role `key` grants in the room: owner for the admin token or the owner key, moderator for a live
    /// moderator key; nil when it grants nothing there (a key of another room included).
    func role(of key: String, in record: RoomRecord?) async throws -> Role? {
        if isAdminToken(key) { return .owner }
        guard let record else { return nil }
        return try await store.role(roomID: record.id, key: SecretDigest(of: key))
    }

    /// A new key: as unguessable as a private room's code, from the same alphabet.
    static func makeKey() -> String { RoomCode.makePrivate() }

    /// The invite link with the key in its fragment, which browsers never send to the server.
    func keyURL(code: String, key: String, host: String?) -> String {
        "\(publicBase(host: host))/r/\(code)#key=\(key)"
    }

    /// `--public-url`, else the `Host` the client reached this server by.
    func publicBase(host: String?) -> String {
        if let publicURL = configuration.publicURL { return publicURL.base }
        let secure = configuration.tlsCertificatePath != nil
        return "\(secure ? "https" : "http")://\(host ?? "\(configuration.host):\(configuration.port)")"
    }

    /// Issues a moderator key for the room and returns it (only its digest is stored).
    func issueModeratorKey(in room: Room) async throws -> String {
        let key = Self.makeKey()
        try await store.addModeratorKey(roomID: room.record.id, key: SecretDigest(of: key))
        return key
    }

    /// Every moderator key stops working; members who joined with one become members, here and on every node.
    func revokeModeratorKeys(in room: Room) async throws {
        try await store.revokeModeratorKeys(roomID: room.record.id)
        room.revokeKeyModerators()
        await publish(.revoke, room: room.code)
    }

    // MARK: kicks and bans

    /// Closes the member `nick` with 4003 wherever it is connected; false when no member has that nick.
    func kick(nick: String, in room: Room) async throws -> Bool {
        if await removeHere(nick: nick, reason: .kicked, in: room) { return true }
        guard try await isRemoteMember(nick, in: room) else { return false }
        var notice = ClusterNotice(.kick, room: room.code, node: cluster?.node ?? "")
        notice.nick = nick
        await cluster?.publish(notice)
        return true
    }

    /// Bans the member `nick` (its session, verified subject and address) and closes it with 4003 `banned`,
    /// wherever it is connected; false when no member has that nick.
    func ban(nick: String, seconds: Int64?, in room: Room) async throws -> Bool {
        let until = seconds.map { Timestamp(milliseconds: Timestamp.now().milliseconds + $0 * 1000) }
        if try await banHere(nick: nick, until: until, in: room) { return true }
        guard try await isRemoteMember(nick, in: room) else { return false }
        // The node that holds the member knows its session and address: it records the ban.
        var notice = ClusterNotice(.ban, room: room.code, node: cluster?.node ?? "")
        notice.nick = nick
        notice.last = until?.milliseconds
        await cluster?.publish(notice)
        return true
    }

    /// Records a ban of a member connected to this node, then closes it; false when it is not here. The ban
    /// is stored before the close, so a banned client that reconnects at once is refused.
    func banHere(nick: String, until: Timestamp?, in room: Room) async throws -> Bool {
        let targets = room.banTargets(nick: nick)
        guard !targets.isEmpty else { return false }
        for target in targets {
            let ban = Ban(nick: target.nick, until: until, session: target.session, subject: target.subject, address: target.address)
            try await store.addBan(roomID: room.record.id, ban)
            bans.add(ban, room: room.code)
        }
        await publish(.bans, room: room.code)
        await removeHere(nick: nick, reason: .banned, in: room)
        return true
    }

    /// Closes the member `nick` here with `reason`; false when it is not here. Other nodes are told the reason
    /// first: the members table's own `leave` for it commits after this notice, so they show this one and
    /// drop that (``RemoteRoster``).
    @discardableResult
    private func removeHere(nick: String, reason: LeaveReason, in room: Room) async -> Bool {
        guard let shown = room.banTargets(nick: nick).first?.nick else { return false }
        if let cluster {
            var notice = ClusterNotice(.leave, room: room.code, node: cluster.node)
            notice.nick = shown
            notice.reason = reason
            await cluster.publish(notice)
        }
        return room.remove(nick: nick, reason: reason)
    }

    /// Lifts the bans of `nick`; false when it had none.
    func unban(nick: String, in room: Room) async throws -> Bool {
        guard try await store.removeBans(roomID: room.record.id, nick: nick) else { return false }
        _ = bans.remove(nick: nick, room: room.code)
        await publish(.bans, room: room.code)
        return true
    }

    private func isRemoteMember(_ nick: String, in room: Room) async throws -> Bool {
        guard let cluster else { return false }
        let key = Nick.key(nick)
        return try await cluster.members(roomID: room.record.id).contains { Nick.key($0) == key }
    }

    // MARK: settings and deletion

    /// Stores the new settings, then every member on every node receives `room`.
    func change(_ change: RoomChange, in room: Room) async throws {
        let settings = room.settings.applying(change)
        try await store.updateRoom(roomID: room.record.id, settings)
        room.apply(settings)
        await publish(.settings, room: room.code)
    }

    /// Erases the room with its messages and files; every member on every node is closed with 4004.
    func delete(_ record: RoomRecord) async throws {
        try await store.deleteRoom(roomID: record.id)
        bans.forget(room: record.code)
        closeDeleted(code: record.code)
        await publish(.deleted, room: record.code)
    }

    /// Closes a deleted room's members, after taking the room out of the registry so a new joiner of the code
    /// gets a fresh room.
    private func closeDeleted(code: String) {
        guard let room = rooms.room(code: code) else { return }
        rooms.retire(room)
        room.closeAll(code: .roomDeleted, reason: "room deleted")
    }

    // MARK: other nodes

    private func publish(_ kind: ClusterNotice.Kind, room code: String) async {
        guard let cluster else { return }
        await cluster.publish(ClusterNotice(kind, room: code, node: cluster.node))
    }

    /// Hands a notice from another node to a worker.
    func receive(_ notice: ClusterNotice) {
        if !work.submit({ await self.handle(notice) }) {
            logger.warning("moderation notice dropped: no worker free", metadata: ["kind": "\(notice.k)"])
        }
    }

    /// A moderation notice from another node. Bans are read again for every room (this node may serve the
    /// banned client next), the rest only matters where the room is live.
    func handle(_ notice: ClusterNotice) async {
        do {
            switch notice.k {
            case .bans:
                if let record = try await store.room(code: notice.room) {
                    let all = try await store.activeBans(now: .now())
                    bans.replace(room: record.code, with: all[record.code] ?? [])
                }
            case .deleted:
                bans.forget(room: notice.room)
                closeDeleted(code: notice.room)
            case .kick:
                if let nick = notice.nick, let room = rooms.room(code: notice.room) { await removeHere(nick: nick, reason: .kicked, in: room) }
            case .ban:
                if let nick = notice.nick, let room = rooms.room(code: notice.room) {
                    _ = try await banHere(nick: nick, until: notice.last.map(Timestamp.init(milliseconds:)), in: room)
                }
            case .revoke:
                rooms.room(code: notice.room)?.revokeKeyModerators()
            case .settings:
                if let room = rooms.room(code: notice.room), let settings = try await store.roomSettings(roomID: room.record.id) {
                    room.apply(settings)
                }
            case .message, .update, .join, .leave, .nick, .typing, .replace:
                break
            }
        } catch {
            logger.warning("could not apply a moderation notice", metadata: ["kind": "\(notice.k)", "error": "\(error)"])
        }
    }

    /// Reads every ban in force (at start, and after the cluster listener missed notices).
    func reloadBans() async {
        do {
            bans.load(try await store.activeBans(now: .now()))
        } catch {
            logger.warning("could not read bans", metadata: ["error": "\(error)"])
        }
    }
}
