import ParleyProtocol

/// A room as stored.
public struct RoomRecord: Sendable, Hashable {
    public var id: Int64
    public var code: String
    public var name: String?
    public var createdAt: Timestamp
    /// Opened by a connection and no message stored yet: forgotten when its last member leaves.
    public var ephemeral = false
    /// Its settings (§12) as read when the room was opened; nil: not read (defaults, and `name` above).
    public var settings: RoomSettings? = nil
    /// Inserted by the open that returned it: no message, change or session has been stored in it yet.
    public var fresh = false

    public var info: RoomInfo { RoomInfo(code: code, name: name, createdAt: createdAt) }
}

/// A message waiting to be stored, with what to do once it is committed.
public struct PendingMessage: Sendable {
    public var roomID: Int64
    public var nick: String
    public var text: String
    public var ts: Timestamp
    public var clientID: String?
    /// Called in commit order, after the batch holding this message is durable, and after ``delivery`` got
    /// the result.
    public var completion: @Sendable (AppendResult) -> Void
    /// The message this one answers (§11).
    var replyTo: Int64? = nil
    /// The session that sent it; nil for HTTP posts, which have no author.
    var author: AuthorKey? = nil
    /// Set when this is not a new message but a change to a stored one (then `text` is unused and `nick` is
    /// the changer's): it goes through the same group commit, so revisions follow commit order.
    var change: MessageChange? = nil
    /// Keep the author's session (its first message on this connection), so it outlives a restart.
    var savesSession = false
    /// Sent by the room's owner or a moderator: a `delete` needs no authorship (§12).
    var byModerator = false
    /// Files to attach (§14): uploaded to this room and not attached yet, or the message is refused.
    var attachments: [String] = []
    /// Nothing to store but the author's session (a member that joined with a new one): answered `unchanged`.
    var onlySession = false
    /// Sent by a verified identity (§13).
    var verified = false
    /// The live room that gets the result before `completion` runs (``CommitOutcome/complete(_:metrics:logger:)``).
    var delivery: RoomDelivery? = nil
}

/// A change to a stored message (§11).
public enum MessageChange: Sendable, Hashable {
    case edit(id: Int64, text: String)
    case delete(id: Int64)
    case react(id: Int64, emoji: String)
    case unreact(id: Int64, emoji: String)

    public var id: Int64 {
        switch self {
        case .edit(let id, _), .delete(let id), .react(let id, _), .unreact(let id, _): id
        }
    }

    /// Whether it puts words or a reaction into the room (an edit or a reaction), rather than taking them back.
    var adds: Bool {
        switch self {
        case .edit, .react: true
        case .delete, .unreact: false
        }
    }
}

extension ChatMessage {
    /// Whether a message sent again with this stored message's `client_id`, `text` and attachments (file ids, in
    /// order) is a resend of it (answered with it) rather than another message taking its id (refused, §6). Once
    /// edited or deleted, the stored message is no longer the one sent, so any resend is answered: nothing is
    /// stored either way.
    func isResent(as text: String, attachments: [String]) -> Bool {
        if editedAt != nil || deleted == true { return true }
        return self.text == text && (self.attachments ?? []).map(\.id) == attachments
    }
}

/// What became of a ``PendingMessage``.
public enum AppendResult: Sendable {
    /// Stored under a new id.
    case stored(ChatMessage)
    /// The room already held a message with this `client_id` and the same text: the original.
    case duplicate(ChatMessage)
    /// The room already held a message with this `client_id` and other text: refused, nothing stored.
    case conflict(ChatMessage)
    /// The room was forgotten (an open room that never had a message) before the message reached storage.
    case noRoom
    /// Storage failed; nothing was stored.
    case failed
    /// A change was stored under the room's next revision: the message in its new state.
    case changed(rev: Int64, ChatMessage)
    /// A change that changed nothing (a reaction already there, or not there to remove).
    case unchanged
    /// Refused (unknown message, someone else's, too many emoji); nothing was stored.
    case refused(ProtocolError)
}

/// A page of history, oldest first.
public struct MessagePage: Sendable, Equatable {
    public var messages: [ChatMessage]
    /// More messages exist beyond the page, in the direction it was read.
    public var hasMore: Bool
    /// The room's newest id when the page was read (same snapshot).
    public var lastID: Int64
    /// The room's newest revision in the same snapshot (§11).
    public var rev: Int64 = 0
}

/// What a client resuming with `since` and `rev` missed (§11), read with its history.
public struct ResumePage: Sendable, Equatable {
    public var history: MessagePage
    /// The current state of messages with id ≤ `since` changed after `rev`, oldest change first.
    public var updates: [ChatMessage]
    public var updatesTruncated: Bool
}

/// Changes after a revision (§11), for a node that must catch up on them: the current state of each changed
/// message, in revision order.
public struct ChangePage: Sendable {
    public var changes: [(rev: Int64, message: ChatMessage)]
    /// Every change up to this revision is covered by `changes` (the room's revision, or the last change in the
    /// page when more exist).
    public var covered: Int64
    /// More changes exist after `covered`.
    public var hasMore = false
}

/// Durable history. Appends are group-committed: many rooms' messages share one transaction.
public protocol MessageStore: Sendable {
    /// The room with this code, or nil.
    func room(code: String) async throws -> RoomRecord?
    /// Creates the room if it does not exist (open rooms), returning it either way.
    func openRoom(code: String) async throws -> RoomRecord
    /// Whether ``openRoom(code:completion:)`` is answered (false: only ``openRoom(code:)``).
    var opensRoomsWithCompletion: Bool { get }
    /// Finds or inserts the room as ``openRoom(code:)`` does, and answers `completion` on the store's own thread
    /// rather than in a task. A failure is not followed by a read of the room (``openRoom(code:)`` reads it):
    /// the caller does that. False (and `completion` never called) when the store cannot answer now.
    func openRoom(code: String, completion: @escaping @Sendable (Result<RoomRecord, any Error>) -> Void) -> Bool
    /// Deletes an ephemeral room that has no members anywhere and no message; otherwise does nothing.
    func forgetRoom(_ room: RoomRecord) async
    /// Creates a room with a new code; fails if the code exists.
    func createRoom(code: String, name: String?) async throws -> RoomRecord
    /// The newest message id in the room (0 if none).
    func lastID(roomID: Int64) async throws -> Int64
    /// Up to `limit` messages with `after < id < before` (either bound optional), oldest first:
    /// the newest such messages when `newest`, else the oldest.
    func messages(roomID: Int64, after: Int64?, before: Int64?, limit: Int, newest: Bool) async throws -> MessagePage
    /// The message with this client id in the room, if any.
    func message(roomID: Int64, clientID: String) async throws -> ChatMessage?
    /// Queues a message for the next group commit. Waits only while the queue is full.
    func append(_ message: PendingMessage) async throws
    /// Queues a message without waiting: false when the queue is full or closed (then use ``append(_:)``).
    func offer(_ message: PendingMessage) -> Bool
    /// True while the database answers.
    func isHealthy() async -> Bool
    /// Whether messages offered now wait behind more than the store should hold; the sender then reads
    /// nothing more until ``waitForRoom()`` returns.
    var isBacklogged: Bool { get }
    /// Returns once ``isBacklogged`` is false.
    func waitForRoom() async

    // Living messages and search (§11, §15).

    /// Whether the store keeps replies, edits, deletions, reactions and authors, and can search.
    var supportsLivingMessages: Bool { get }
    /// The message with this id in its current state, or nil.
    func message(roomID: Int64, id: Int64) async throws -> ChatMessage?
    /// History after `since` (as ``messages(roomID:after:before:limit:newest:)`` with `newest`) and, in the same
    /// snapshot, the current state of messages with id ≤ `since` changed after revision `rev`.
    func resume(roomID: Int64, since: Int64, rev: Int64, limit: Int, updateLimit: Int) async throws -> ResumePage
    /// Messages whose current text holds every word of `query` (as prefixes), newest first, with id < `before`.
    func search(roomID: Int64, query: String, before: Int64?, limit: Int) async throws -> MessagePage
    /// The nick last bound to a persisted session of this room, or nil when the room has no such session.
    func session(roomID: Int64, author: AuthorKey) async throws -> String?
    /// Up to `limit` of the room's persisted sessions: author key → the nick last bound to it.
    func savedSessions(roomID: Int64, limit: Int) async throws -> [Int64: String]
    /// Up to `limit` messages changed after revision `rev`, in revision order.
    func changes(roomID: Int64, after rev: Int64, limit: Int) async throws -> ChangePage

    // Room owners and moderation (§12); defaults in MessageStore+Owners.swift.

    /// Creates a room with a new code whose owner key has this digest.
    func createRoom(code: String, name: String?, ownerKey: SecretDigest) async throws -> RoomRecord
    /// The room's name and settings; nil for a store that keeps none.
    func roomSettings(roomID: Int64) async throws -> RoomSettings?
    func updateRoom(roomID: Int64, _ settings: RoomSettings) async throws
    /// The role a key with this digest grants in the room, or nil.
    func role(roomID: Int64, key: SecretDigest) async throws -> Role?
    func addModeratorKey(roomID: Int64, key: SecretDigest) async throws
    func revokeModeratorKeys(roomID: Int64) async throws
    func addBan(roomID: Int64, _ ban: Ban) async throws
    /// Lifts every ban of this nick (compared as nicks are); false when there was none.
    func removeBans(roomID: Int64, nick: String) async throws -> Bool
    /// Every ban not yet expired, by room code.
    func activeBans(now: Timestamp) async throws -> [String: [Ban]]
    /// Erases the room, its messages and everything kept for it.
    func deleteRoom(roomID: Int64) async throws
    /// Whether messages can carry files (§14): otherwise a message with `attachments` is refused.
    var supportsFiles: Bool { get }
}

extension MessageStore {
    /// A store whose ``offer(_:)`` refuses when full has no backlog beyond it.
    public var isBacklogged: Bool { false }
    public func waitForRoom() async {}
    public var opensRoomsWithCompletion: Bool { false }
    public func openRoom(code: String, completion: @escaping @Sendable (Result<RoomRecord, any Error>) -> Void) -> Bool { false }

    public var supportsLivingMessages: Bool { false }
    public var supportsFiles: Bool { false }

    /// A store without changes holds every message as it was sent: one message is a page of one.
    public func message(roomID: Int64, id: Int64) async throws -> ChatMessage? {
        guard id > 0, id < Int64.max else { return nil }
        return try await messages(roomID: roomID, after: id - 1, before: id + 1, limit: 1, newest: false).messages.first
    }

    public func resume(roomID: Int64, since: Int64, rev: Int64, limit: Int, updateLimit: Int) async throws -> ResumePage {
        // No changes are ever stored here, so there are no updates to send.
        let history = try await messages(roomID: roomID, after: since, before: nil, limit: limit, newest: true)
        return ResumePage(history: history, updates: [], updatesTruncated: false)
    }

    public func search(roomID: Int64, query: String, before: Int64?, limit: Int) async throws -> MessagePage {
        throw StorageError.unsupported(StorageError.livingMessages)
    }

    public func session(roomID: Int64, author: AuthorKey) async throws -> String? { nil }

    /// None read in one go: each is read alone with ``session(roomID:author:)``.
    public func savedSessions(roomID: Int64, limit: Int) async throws -> [Int64: String] { [:] }

    public func changes(roomID: Int64, after rev: Int64, limit: Int) async throws -> ChangePage {
        ChangePage(changes: [], covered: rev)
    }
}
