import ParleyProtocol
import Synchronization

/// The one answer to "may this client post or upload in this room now?" (§12, §14): not while banned, not in
/// a locked room unless it moderates, and in slow mode not before its interval has passed. Owners and
/// moderators are exempt from all three.
///
/// WebSocket messages, HTTP posts and file uploads all ask here. A room with neither lock nor slow mode and
/// no bans costs one dictionary lookup (bans) and, for a live room, one atomic load.
final class RoomRules: Sendable {
    let bans: BanBook
    private let store: any MessageStore
    private let rooms: RoomRegistry
    private let slowMode = Mutex(SlowMode<SlowKey, ContinuousClock.Instant>())

    /// A post let through slow mode; handed back (``withdraw(_:)``) when the post is not stored after all.
    typealias SlowModePass = SlowMode<SlowKey, ContinuousClock.Instant>.Pass

    /// Slow mode counts per session (§12); a poster without one (HTTP) counts by subject, else by address.
    enum SlowKey: Hashable, Sendable {
        case session(roomID: Int64, SessionSecret)
        case subject(roomID: Int64, String)
        case address(roomID: Int64, ClientAddress)
        case anonymous(roomID: Int64)
    }

    init(bans: BanBook, store: any MessageStore, rooms: RoomRegistry) {
        self.bans = bans
        self.store = store
        self.rooms = rooms
    }

    /// Whether `poster` may post or upload in the room now; throws the contract's refusal otherwise
    /// (`forbidden` for a ban or a locked room, `rate_limited` for slow mode). A post that passes starts the
    /// poster's slow-mode interval, so call it once per post, just before storing, and hand the pass back
    /// (``withdraw(_:)``) if the post is not stored. An upload (`upload: true`) obeys bans and the lock but not
    /// slow mode: it is not a message, and its message will start the interval.
    @discardableResult
    func checkPost(
        in record: RoomRecord,
        by poster: Poster,
        upload: Bool = false,
        now: ContinuousClock.Instant = .now
    ) async throws(ProtocolError) -> SlowModePass? {
        if !poster.role.moderates,
            bans.refuses(room: record.code, session: poster.sessionDigest, subject: poster.subject, address: poster.address?.description)
        {
            throw Self.banned
        }
        let settings: RoomSettings
        if let live = rooms.room(code: record.code) {
            settings = live.settings
        } else {
            do {
                settings = try await store.roomSettings(roomID: record.id) ?? RoomSettings(name: record.name)
            } catch {
                throw ProtocolError(.unavailable, "storage is unavailable; try again")
            }
        }
        return try check(settings, roomID: record.id, poster: poster, slowMode: !upload, now: now)
    }

    /// The lock and slow-mode part, for a live room's own settings (a WebSocket member: it was checked for
    /// bans when it joined, and a ban closes it).
    @discardableResult
    func check(
        _ settings: RoomSettings,
        roomID: Int64,
        poster: Poster,
        slowMode applies: Bool = true,
        now: ContinuousClock.Instant = .now
    ) throws(ProtocolError) -> SlowModePass? {
        guard settings.restricts, !poster.role.moderates else { return nil }
        if settings.locked { throw Self.locked }
        guard applies, settings.slowMode > 0 else { return nil }
        let key: SlowKey =
            if let session = poster.session {
                .session(roomID: roomID, session)
            } else if let subject = poster.subject {
                .subject(roomID: roomID, subject)
            } else if let address = poster.address {
                .address(roomID: roomID, address)
            } else {
                .anonymous(roomID: roomID)
            }
        let interval = Duration.seconds(settings.slowMode)
        let (pass, wait): (SlowModePass?, Duration) = slowMode.withLock { slow in
            if let pass = slow.admit(key, interval: interval, now: now) { return (pass, .zero) }
            return (nil, slow.wait(key, interval: interval, now: now))
        }
        guard let pass else {
            let seconds = max(1, Int((wait + .milliseconds(999)).components.seconds))
            throw ProtocolError(.rateLimited, "slow mode: wait \(seconds) s before sending again")
        }
        return pass
    }

    /// Takes back a pass whose post was not stored (refused after the check, a resend, a failed commit): only
    /// stored messages start the interval.
    func withdraw(_ pass: SlowModePass?) {
        guard let pass else { return }
        slowMode.withLock { $0.withdraw(pass) }
    }

    static let banned = ProtocolError(.forbidden, "you are banned from this room")
    static let locked = ProtocolError(.forbidden, "the room is locked: only its owner and moderators may post")
}
