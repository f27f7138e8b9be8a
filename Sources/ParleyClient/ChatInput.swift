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
}
