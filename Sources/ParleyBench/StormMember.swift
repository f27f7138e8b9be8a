/// One storm member's view of its room over its two connections, as a value type with no I/O: the nick and
/// session the server gave it, the newest id it has, and its id check across the resume.
///
/// The first `welcome` anchors the check at `last_id`; the second one (after the restart, asked for with
/// `since` = ``lastID``) must hold in `history` exactly the ids after ``lastID``, and live messages must
/// carry on from there. Every `welcome` must give back the nick the member asked for.
public struct StormMember: Sendable, Equatable {
    public let room: Int
    public let roomCode: String
    public let member: Int
    public let nick: String
    public private(set) var session: String?
    /// `last_id` of the first `welcome`: the room's newest id before the storm's messages.
    public private(set) var base: Int64?
    /// The newest id received; `since` for the next connection.
    public private(set) var lastID: Int64 = 0
    /// Welcomes received.
    public private(set) var welcomes = 0
    /// The nick a `welcome` gave instead of ours, the first time that happened.
    public private(set) var lostNickAs: String?
    public private(set) var checker: SequenceChecker?
    public private(set) var anomalies: [DeliveryAnomaly] = []

    public init(room: Int, roomCode: String, member: Int, nick: String) {
        self.room = room
        self.roomCode = roomCode
        self.member = member
        self.nick = nick
    }

    /// Takes a `welcome` received at `time` (nanoseconds since the run began).
    public mutating func welcome(_ frame: WelcomeFrame, at time: Int64) {
        welcomes += 1
        if frame.nick != nick, lostNickAs == nil { lostNickAs = frame.nick ?? "(none)" }
        if let session = frame.session { self.session = session }
        guard checker != nil else {
            // A first join: history is what came before; the check starts after it.
            let start = frame.lastID ?? 0
            base = start
            lastID = start
            checker = SequenceChecker(after: start)
            return
        }
        for id in frame.historyIDs { observe(id, at: time) }
    }

    /// Takes a live `message` event's id.
    public mutating func message(id: Int64, at time: Int64) {
        if checker == nil { checker = SequenceChecker() }
        observe(id, at: time)
    }

    /// Whether every id up to `id` has arrived at least once as far as the stream shows.
    public func hasReached(_ id: Int64) -> Bool { lastID >= id }

    /// Ends the stream: holes still open become gaps in the list.
    public mutating func finish() {
        guard let checker else { return }
        for hole in checker.finish() {
            list(.gap, expected: hole.ids.lowerBound, got: hole.revealedBy, missing: Int64(hole.ids.count), at: hole.at)
        }
    }

    public var gaps: Int { checker?.gapCount ?? 0 }
    public var missingIDs: Int64 { checker?.missingIDs ?? 0 }
    public var duplicates: Int { checker?.duplicateCount ?? 0 }
    public var reorders: Int { checker?.lateCount ?? 0 }

    private mutating func observe(_ id: Int64, at time: Int64) {
        lastID = max(lastID, id)
        switch checker?.observe(id, at: time) {
        case .late(let expected, let got):
            list(.reorder, expected: expected, got: got, at: time)
        case .duplicate(let expected, let got):
            list(.duplicate, expected: expected, got: got, at: time)
        case .inOrder, .jump, nil:
            // A jump is a gap only if it never heals; ``finish()`` lists the holes left open.
            break
        }
    }

    private mutating func list(_ kind: DeliveryAnomaly.Kind, expected: Int64, got: Int64, missing: Int64? = nil, at time: Int64) {
        guard anomalies.lazy.filter({ $0.kind == kind }).count < MemberReader.listedAnomalies else { return }
        anomalies.append(
            DeliveryAnomaly(kind: kind, room: roomCode, member: member, expected: expected, got: got, missing: missing, atSeconds: Double(time) / 1e9)
        )
    }
}
