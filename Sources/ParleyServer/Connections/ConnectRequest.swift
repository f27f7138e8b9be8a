import Hummingbird
import ParleyProtocol

/// The query of `GET /ws`, validated (contract §2).
struct ConnectRequest: Sendable {
    var roomCode: String
    /// Normalised nick, or nil when the server should assign one.
    var nick: String?
    var since: Int64?
    /// Nil also when it is not a secret this server could have handed out: the member joins as new.
    var session: SessionSecret?

    init(query: Parameters) throws(ProtocolError) {
        // `roomCode` and `token` are the seeds' names for the same parameter.
        let names: [Substring] = ["room", "roomCode", "token"]
        guard let code: Substring = names.lazy.compactMap({ query[$0] }).first else {
            throw ProtocolError(.invalidRoom, "the room query parameter is required")
        }
        roomCode = try RoomCode.validate(String(code))
        if let raw = query["nick"], !raw.isEmpty {
            nick = try Nick.normalize(String(raw))
        }
        if let raw = query["since"], !raw.isEmpty {
            guard let value = Int64(raw), value >= 0 else {
                throw ProtocolError(.badRequest, "since must be a non-negative integer")
            }
            since = value
        }
        if let raw = query["session"], !raw.isEmpty {
            session = SessionSecret(raw)
        }
    }
}
