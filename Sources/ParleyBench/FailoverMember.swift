/// One member's view of its room in a failover run, across every connection it makes, as a value type with
/// no I/O (every time is handed in, in nanoseconds since the run began).
///
/// Deliveries: the first `welcome` anchors a ``SequenceChecker`` at `last_id`; each later `welcome` (after a
/// move, asked for with `since` = ``lastID``) feeds its `history` to the check, and live messages carry on
/// from there. Each bench message is known by its marker's `seq`, so one stored twice (one `seq` under two
/// ids) is caught although each of its ids arrives once.
///
/// Publishing: a publisher's messages are `seq = n × publishers + index`, each with the `client_id`
/// ``clientID(_:)``, acknowledged when the message comes back (live or in a `welcome`'s history). After a
/// move the unacknowledged ones go out again with the same text and `client_id`. The server answers a resend
/// of a message it already stored with the original event, to the sender alone: a sender that gets one of
/// its own messages again under the same id takes it as that answer, not as a duplicate.
public struct FailoverMember: Sendable {
    public let room: Int
    public let roomCode: String
    public let member: Int
    public let nick: String
    /// Its index among its room's publishers, or `nil` when it only reads.
    public let publisher: Int?
    /// Publishers per room.
    public let publishers: Int

    public private(set) var session: String?
    /// The newest id received; `since` for the next connection.
    public private(set) var lastID: Int64 = 0
    public private(set) var welcomes = 0
    /// Whether a connection is open and welcomed.
    public private(set) var connected = false
    /// The nick a `welcome` gave instead of ours, the first time that happened.
    public private(set) var lostNickAs: String?
    public private(set) var checker: SequenceChecker?
    /// Bench messages received (live or in a resume's history), answers to resends not counted.
    public private(set) var deliveries = 0
    /// Bench messages received under a second id.
    public private(set) var storedTwice = 0
    public private(set) var storedTwiceSample: String?
    public private(set) var anomalies: [DeliveryAnomaly] = []
    /// When its first welcomed connection dropped, and when the next `welcome` after that came.
    public private(set) var droppedAt: Int64?
    public private(set) var backAt: Int64?
    /// Since when the member has had no welcomed connection (after having had one).
    public private(set) var awaySince: Int64?
    /// `error` events received, and the first one's code.
    public private(set) var serverErrors = 0
    public private(set) var serverErrorSample: String?

    /// Messages sent for the first time, and sent again.
    public private(set) var sent = 0
    public private(set) var resent = 0
    /// Sent and not yet back: `seq` → the marker's send time (the text is rebuilt from both, unchanged).
    public private(set) var unacknowledged: [Int: Int64] = [:]

    /// The id each bench message was received under.
    private var ids: [Int: Int64] = [:]

    public init(room: Int, roomCode: String, member: Int, nick: String, publisher: Int?, publishers: Int) {
        self.room = room
        self.roomCode = roomCode
        self.member = member
        self.nick = nick
        self.publisher = publisher
        self.publishers = publishers
    }

    /// The `client_id` of message `seq` (unique in its room).
    public static func clientID(_ seq: Int) -> String { "pb\(seq)" }

    /// Takes a `welcome` received at `time`.
    public mutating func welcome(_ frame: WelcomeFrame, at time: Int64) {
        welcomes += 1
        connected = true
        awaySince = nil
        if frame.nick != nick, lostNickAs == nil { lostNickAs = frame.nick ?? "(none)" }
        if let session = frame.session { self.session = session }
        if droppedAt != nil, backAt == nil { backAt = time }
        guard checker != nil else {
            // The first join: its history came before the run, and the check starts after it.
            lastID = frame.lastID ?? 0
            checker = SequenceChecker(after: lastID)
            return
        }
        for (id, stamp) in zip(frame.historyIDs, frame.historyStamps) { take(id, stamp: stamp, at: time) }
    }

    /// Takes a frame after the `welcome`: a `message` event or an `error` count; the rest is not checked.
    public mutating func received(_ frame: ScannedFrame, at time: Int64) {
        switch frame {
        case .message(let id, let stamp): message(id: id, stamp: stamp, at: time)
        case .error(let code):
            serverErrors += 1
            if serverErrorSample == nil { serverErrorSample = code }
        case .welcome, .other, .unreadable: break
        }
    }

    /// Takes a live `message` event.
    public mutating func message(id: Int64, stamp: BenchStamp?, at time: Int64) {
        if checker == nil { checker = SequenceChecker() }
        take(id, stamp: stamp, at: time)
    }

    /// The welcomed connection closed at `time`.
    public mutating func dropped(at time: Int64) {
        guard connected else { return }
        connected = false
        awaySince = time
        if droppedAt == nil { droppedAt = time }
    }

    /// A publisher's next new message, sent at `time`: noted as unacknowledged until it comes back.
    public mutating func nextMessage(at time: Int64) -> BenchStamp {
        precondition(publisher != nil, "only a publisher sends")
        let stamp = BenchStamp(sentAt: time, seq: sent * publishers + (publisher ?? 0))
        sent += 1
        unacknowledged[stamp.seq] = time
        return stamp
    }

    /// The unacknowledged messages sent before `time`, oldest first, counted as resent.
    public mutating func resend(sentBefore time: Int64 = .max) -> [BenchStamp] {
        let due = unacknowledged.filter { $0.value < time }.map { BenchStamp(sentAt: $0.value, seq: $0.key) }.sorted { $0.seq < $1.seq }
        resent += due.count
        return due
    }

    public var gaps: Int { checker?.gapCount ?? 0 }
    public var missingIDs: Int64 { checker?.missingIDs ?? 0 }
    public var duplicates: Int { checker?.duplicateCount ?? 0 }
    public var reorders: Int { checker?.lateCount ?? 0 }

    /// Ends the stream: holes still open become gaps in the list.
    public mutating func finish() {
        guard let checker else { return }
        for hole in checker.finish() {
            list(.gap, expected: hole.ids.lowerBound, got: hole.revealedBy, missing: Int64(hole.ids.count), at: hole.at)
        }
    }

    private func isOwn(_ seq: Int) -> Bool { publisher.map { seq % publishers == $0 } ?? false }

    private mutating func take(_ id: Int64, stamp: BenchStamp?, at time: Int64) {
        // The server's answer to a resend of a message already stored: nothing new.
        if let stamp, ids[stamp.seq] == id, isOwn(stamp.seq) { return }
        lastID = max(lastID, id)
        var repeated = false
        switch checker?.observe(id, at: time) {
        case .late(let expected, let got):
            list(.reorder, expected: expected, got: got, at: time)
        case .duplicate(let expected, let got):
            repeated = true
            list(.duplicate, expected: expected, got: got, at: time)
        case .inOrder, .jump, nil:
            // A jump is a gap only if it never heals; ``finish()`` lists the holes left open.
            break
        }
        guard let stamp else { return }
        deliveries += 1
        if isOwn(stamp.seq) { unacknowledged[stamp.seq] = nil }
        guard let known = ids[stamp.seq] else {
            ids[stamp.seq] = id
            return
        }
        // A second id for one message is a second copy stored (a repeated id is already counted as a duplicate).
        if known != id, !repeated {
            storedTwice += 1
            if storedTwiceSample == nil { storedTwiceSample = "room \(roomCode): message \(stamp.seq) as ids \(known) and \(id)" }
        }
    }

    private mutating func list(_ kind: DeliveryAnomaly.Kind, expected: Int64, got: Int64, missing: Int64? = nil, at time: Int64) {
        guard anomalies.lazy.filter({ $0.kind == kind }).count < MemberReader.listedAnomalies else { return }
        anomalies.append(
            DeliveryAnomaly(kind: kind, room: roomCode, member: member, expected: expected, got: got, missing: missing, atSeconds: Double(time) / 1e9)
        )
    }
}

extension BenchStamp {
    /// The `message` command that sends ``text(size:)`` with `client_id`, so that a resend is recognised.
    public func command(size: Int, clientID: String) -> String {
        #"{"type":"message","text":""# + text(size: size) + #"","client_id":""# + clientID + #""}"#
    }
}
