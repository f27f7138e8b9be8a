/// What one server frame holds, as far as the bench cares.
public enum ScannedFrame: Sendable, Equatable {
    /// A `message` event: its id and, when its text carries one, the bench's marker.
    case message(id: Int64, stamp: BenchStamp?)
    /// The `welcome` event, with `last_id` when present.
    case welcome(lastID: Int64?)
    /// An `error` event, with its code.
    case error(code: String)
    /// Any other event (`join`, `leave`, `pong`, …).
    case other
    /// Not a JSON object with a string `type`.
    case unreadable
}
