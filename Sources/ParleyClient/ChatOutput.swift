import ParleyProtocol

/// Something a ``ChatSession`` reports: a chat event to show, or what the session is doing.
public enum ChatOutput: Hashable, Sendable {
    /// Connected (or reconnected) to `room` as `nick`.
    case connected(room: RoomInfo, nick: String, members: [String])
    /// A message, new to this session. `own` when this user sent it.
    case message(ChatMessage, own: Bool)
    /// A message was edited, deleted or reacted to (§11): its current state. Also sent on resume for changes made
    /// while away to messages seen before.
    case changed(ChatMessage)
    /// The answer to ``ChatInput/search(_:)``, newest first.
    case searchResults(query: String, messages: [ChatMessage], hasMore: Bool)
    /// Older messages fetched with ``ChatInput/history(limit:)``, oldest first.
    case olderMessages([ChatMessage], hasMore: Bool)
    case join(nick: String, ts: Timestamp)
    case leave(nick: String, ts: Timestamp)
    /// A member was kicked or banned (§12).
    case removed(nick: String, reason: LeaveReason, ts: Timestamp)
    /// This connection's role in the room (§12), from `welcome`.
    case role(Role)
    /// The room's settings changed (§12), or are as shown at connection.
    case roomSettings(RoomInfo)
    /// The answer to `/bans`.
    case bans([BanInfo])
    /// A new moderator link (`/modlink`); it is a secret.
    case moderatorLink(url: String)
    /// A nick change; `own` when it is this user's.
    case nickChange(from: String, to: String, ts: Timestamp, own: Bool)
    /// The current member list.
    case members([String])
    /// The server refused a command; the connection stays open.
    case serverError(code: ErrorCode, message: String)
    /// Progress of the connection, for a status line.
    case status(ChatStatus)
}

/// What the session is doing, for humans (written to standard error by `parley chat`).
public enum ChatStatus: Hashable, Sendable {
    case connecting(url: String)
    /// The connection dropped or could not be made.
    case disconnected(reason: String)
    case reconnecting(after: Duration)
    /// A reconnect resumed: `missed` messages arrived that were sent while away.
    case resumed(missed: Int)
    /// More than the welcome could carry was missed; `/history` fetches the rest.
    case olderMissed
    /// `count` typed lines are waiting to be sent or acknowledged.
    case waitingForAcknowledgement(count: Int)
    /// A line the server refused for good (too large, empty); it is dropped.
    case dropped(text: String, reason: String)
    /// A line of `bytes` bytes was not sent: the server takes at most `limit` (its `welcome.limits`).
    case tooLong(bytes: Int, limit: Int)
    /// The server is rate-limiting this client; the line is sent again shortly.
    case slowedDown
    /// More messages were changed while away than a welcome carries: earlier lines may be out of date.
    case changesMissed
    /// `/edit TEXT` before any own message was seen.
    case nothingToEdit
    /// A reaction that is not one emoji (§11's rule).
    case notAnEmoji(String)
    /// A search could not be made.
    case searchFailed(String)
}

extension ChatStatus: CustomStringConvertible {
    public var description: String {
        switch self {
        case .connecting(let url): "connecting to \(url)"
        case .disconnected(let reason): "disconnected: \(reason)"
        case .reconnecting(let delay): "reconnecting in \(Self.seconds(delay)) s"
        case .resumed(let missed): "resumed, \(missed) missed message\(missed == 1 ? "" : "s")"
        case .olderMissed: "more messages were missed than the server sends at once; /history fetches them"
        case .waitingForAcknowledgement(let count): "waiting for \(count) line\(count == 1 ? "" : "s") to be acknowledged"
        case .dropped(let text, let reason): "not sent (\(reason)): \(text)"
        case .tooLong(let bytes, let limit): "not sent: the line is \(bytes) bytes; this server takes at most \(limit) bytes per message"
        case .slowedDown: "rate limited by the server; resending shortly"
        case .changesMissed: "more messages were changed while away than the server sends at once; earlier lines may be out of date"
        case .nothingToEdit: "no message of yours to edit yet; name one with /edit ID TEXT"
        case .notAnEmoji(let emoji): "not a reaction: \(emoji) (one emoji, up to 16 characters, no spaces)"
        case .searchFailed(let reason): "search failed: \(reason)"
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return "\(milliseconds / 1000).\(milliseconds % 1000 / 100)"
    }
}
