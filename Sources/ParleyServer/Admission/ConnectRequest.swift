import ParleyProtocol

/// The query of `GET /ws`, validated (contract §2).
///
/// It reads parameters through a lookup rather than Hummingbird's `Parameters` (see
/// `ConnectRequest+Parameters.swift`), so that the fuzzer can build it with this module's few plain files.
struct ConnectRequest: Sendable {
    var roomCode: String
    /// Normalised nick, or nil when the server should assign one.
    var nick: String?
    var since: Int64?
    /// The newest revision the client has seen (§11); only used with `since`.
    var rev: Int64?
    /// Nil also when it is not a secret this server could have handed out: the member joins as new.
    var session: SessionSecret?
    /// The identity token (`auth`, §13), unchecked: the admission verifies it.
    var auth: String?
    /// An owner or moderator key, or the admin token (§12); never logged.
    var key: String?

    /// `parameter` answers the percent-decoded value of the first query parameter with that name, or nil.
    init(parameter: (Substring) -> Substring?) throws(ProtocolError) {
        // `roomCode` and `token` are the seeds' names for the same parameter.
        guard let code = parameter("room") ?? parameter("roomCode") ?? parameter("token") else {
            throw ProtocolError(.invalidRoom, "the room query parameter is required")
        }
        roomCode = try RoomCode.validate(String(code))
        if let raw = parameter("nick"), !raw.isEmpty {
            nick = try Nick.normalize(String(raw))
        }
        if let raw = parameter("since"), !raw.isEmpty {
            guard let value = Int64(raw), value >= 0 else {
                throw ProtocolError(.badRequest, "since must be a non-negative integer")
            }
            since = value
        }
        if let raw = parameter("rev"), !raw.isEmpty {
            guard let value = Int64(raw), value >= 0 else {
                throw ProtocolError(.badRequest, "rev must be a non-negative integer")
            }
            rev = value
        }
        if let raw = parameter("session"), !raw.isEmpty {
            session = SessionSecret(raw)
        }
        if let raw = parameter("auth"), !raw.isEmpty {
            auth = String(raw)
        }
        if let raw = parameter("key"), !raw.isEmpty {
            key = String(raw)
        }
    }
}
