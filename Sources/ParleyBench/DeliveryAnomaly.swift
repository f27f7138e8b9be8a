/// One fault in a member's stream of message ids, for the report's list.
public struct DeliveryAnomaly: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Ids that never arrived: `expected` is the first missing id, `got` the id that came instead.
        case gap
        /// An id that had already arrived (or that `welcome` covered).
        case duplicate
        /// An id that arrived after a higher one.
        case reorder
    }

    public var kind: Kind
    public var room: String
    /// The member's index in its room (its nick is `m<member>`).
    public var member: Int
    public var expected: Int64
    public var got: Int64
    /// For a gap: how many ids are missing.
    public var missing: Int64?
    /// When it was seen, in seconds since the run began.
    public var atSeconds: Double

    public init(kind: Kind, room: String, member: Int, expected: Int64, got: Int64, missing: Int64? = nil, atSeconds: Double) {
        self.kind = kind
        self.room = room
        self.member = member
        self.expected = expected
        self.got = got
        self.missing = missing
        self.atSeconds = atSeconds
    }

    enum CodingKeys: String, CodingKey {
        case kind, room, member, expected, got, missing
        case atSeconds = "at_s"
    }
}
