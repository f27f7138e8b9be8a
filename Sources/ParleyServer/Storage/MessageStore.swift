import ParleyProtocol

/// A room as stored.
public struct RoomRecord: Sendable, Hashable {
    public var id: Int64
    public var code: String
    public var name: String?
    public var createdAt: Timestamp
    /// Opened by a connection and no message stored yet: forgotten when its last member leaves.
    public var ephemeral = false

    public var info: RoomInfo { RoomInfo(code: code, name: name, createdAt: createdAt) }
}

/// A message waiting to be stored, with what to do once it is committed.
public struct PendingMessage: Sendable {
    public var roomID: Int64
    public var nick: String
    public var text: String
    public var ts: Timestamp
    public var clientID: String?
    /// Called in commit order, after the batch holding this message is durable. The server's own
    /// completions hand the result to the room first (``RoomRegistry/deliver(_:toRoom:)``).
    public var completion: @Sendable (AppendResult) -> Void
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
}

/// A page of history, oldest first.
public struct MessagePage: Sendable, Equatable {
    public var messages: [ChatMessage]
    /// More messages exist beyond the page, in the direction it was read.
    public var hasMore: Bool
    /// The room's newest id when the page was read (same snapshot).
    public var lastID: Int64
}

/// Durable history. Appends are group-committed: many rooms' messages share one transaction.
public protocol MessageStore: Sendable {
    /// The room with this code, or nil.
    func room(code: String) async throws -> RoomRecord?
    /// Creates the room if it does not exist (open rooms), returning it either way.
    func openRoom(code: String) async throws -> RoomRecord
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
}

extension MessageStore {
    /// A store whose ``offer(_:)`` refuses when full has no backlog beyond it.
    public var isBacklogged: Bool { false }
    public func waitForRoom() async {}
}
