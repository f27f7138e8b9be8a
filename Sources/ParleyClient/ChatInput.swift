import ParleyProtocol

/// Something the user asks a ``ChatSession`` to do.
public enum ChatInput: Hashable, Sendable {
    /// Send a chat line; it is kept and resent with its `client_id` until the server acknowledges it.
    case say(String)
    /// Change nick.
    case nick(String)
    /// Fetch up to `limit` messages older than the oldest one seen.
    case history(limit: Int)
    /// Report the current member list as ``ChatOutput/members(_:)``.
    case members
    /// Finish: wait (bounded) for unacknowledged lines, then close.
    case quit
    /// Send a chat line that answers message `to` (protocol §11); kept and resent like ``say(_:)``.
    case reply(to: Int64, text: String)
    /// Replace the text of an own message; `nil` edits the newest own message this session saw.
    case edit(id: Int64?, text: String)
    /// Delete a message (own, or any as moderator or owner).
    case delete(id: Int64)
    /// Add this user's reaction to a message.
    case react(id: Int64, emoji: String)
    /// Take this user's reaction back.
    case unreact(id: Int64, emoji: String)
    /// Search the room's messages (protocol §15); answered as ``ChatOutput/searchResults(query:messages:hasMore:)``.
    case search(String)
    /// A moderation command (§12): kick, ban, unban, bans, room, moderator_key, revoke_moderator_keys.
    case moderate(ClientCommand)
    /// Send a chat line carrying uploaded files (§14, ids from ``ParleyAPI/upload(room:path:name:progress:)``); `text`
    /// may be empty.
    case sayWithFiles(text: String, files: [String])
}
