import Logging
import NIOCore
import ParleyProtocol
import Synchronization

/// One live room: its members and their outboxes.
///
/// Every change to membership and every fan-out happens under the room's own lock, which is never held
/// across an `await`: fan-out only appends an already-encoded frame to each member's ``Outbox``.
/// Messages reach ``deliver(_:)`` from the storage writer in commit order, so all members see one order.
final class Room: Sendable {
    let record: RoomRecord
    private let state = Mutex(RoomState<Outbox>())
    private let sessions: SessionTable
    private let metrics: ParleyMetrics

    init(record: RoomRecord, sessions: SessionTable, metrics: ParleyMetrics) {
        self.record = record
        self.sessions = sessions
        self.metrics = metrics
    }

    var code: String { record.code }

    /// Current nicks, in join order.
    var nicks: [String] { state.withLock { $0.nicks } }

    /// What a joining connection learns.
    struct Admission {
        var nick: String
        var session: String
        var members: [String]
    }

    /// Adds a member whose outbox is still holding. A valid `session` reclaims its nick, replacing a live
    /// holder (closed 4001, with no leave/join pair); otherwise `requestedNick` (or a guest nick) is used,
    /// suffixed on a clash.
    func join(_ id: ConnectionID, requestedNick: String?, session requestedSession: String?, outbox: Outbox) -> Admission {
        let claim = requestedSession.flatMap { secret in sessions.lookup(secret, roomCode: code).map { (secret, $0.nick) } }
        let session = claim?.0 ?? SessionTable.makeSecret()
        let desired = claim?.1 ?? requestedNick ?? Nick.makeGuest()
        let ts = Timestamp.now()
        let (admission, replaced): (Admission, Outbox?) = state.withLock { state in
            let joined = state.join(id, desired: desired, session: session, handle: outbox)
            if joined.replaced == nil {
                broadcastLocked(state, .join(nick: joined.nick, ts: ts), except: id)
            }
            return (Admission(nick: joined.nick, session: session, members: state.nicks), joined.replaced?.handle)
        }
        sessions.bind(session, roomCode: code, nick: admission.nick)
        replaced?.closeNow(code: 4001, reason: "replaced")
        return admission
    }

    /// Removes a member and tells the others; a member that was replaced leaves silently.
    func leave(_ id: ConnectionID) {
        state.withLock { state in
            guard let member = state.leave(id) else { return }
            broadcastLocked(state, .leave(nick: member.nick, ts: .now()), except: nil)
        }
    }

    /// Renames a member and tells everyone, the member included.
    func rename(_ id: ConnectionID, to nick: String) throws(ProtocolError) {
        let renamed: (from: String, session: String)? = try state.withLock { (state) throws(ProtocolError) in
            guard let renamed = try state.rename(id, to: nick) else { return nil }
            if renamed.from != nick {
                broadcastLocked(state, .nick(from: renamed.from, to: nick, ts: .now()), except: nil)
            }
            return renamed
        }
        if let renamed { sessions.bind(renamed.session, roomCode: code, nick: nick) }
    }

    /// The member's current nick.
    func nick(of id: ConnectionID) -> String? {
        state.withLock { $0.members[id]?.nick }
    }

    /// Tells the other members that `id` is typing.
    func typing(_ id: ConnectionID) {
        state.withLock { state in
            guard let nick = state.members[id]?.nick else { return }
            broadcastLocked(state, .typing(nick: nick), except: id)
        }
    }

    /// Sends a committed message to every member, the sender included. Called in id order.
    func deliver(_ message: ChatMessage) {
        let frame = EventEncoder.encode(.message(message))
        let count = state.withLock { state in
            for member in state.members.values {
                member.handle.enqueue(frame, messageID: message.id)
            }
            return state.members.count
        }
        metrics.deliveries.increment(by: count)
    }

    /// Encodes once and queues the same bytes for every member but `except`.
    private func broadcastLocked(_ state: RoomState<Outbox>, _ event: ServerEvent, except: ConnectionID?) {
        let frame = EventEncoder.encode(event)
        for (id, member) in state.members where id != except {
            member.handle.enqueue(frame)
        }
    }
}
