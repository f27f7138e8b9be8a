import Histogram

/// What one member receives, counted without locks: its id checker, its latency histogram and its counters.
/// The run merges every member's reader when the member's connection ends.
struct MemberReader: Sendable {
    /// What the run must do with one frame besides counting it here.
    struct Delivery: Equatable {
        /// The marker's sequence number, when the frame was one of the bench's messages.
        var seq: Int?
        /// The message was sent inside the measured window.
        var measured = false
        /// The id was out of order.
        var anomaly = false
    }

    /// The most anomalies of each kind one member keeps for the report's list.
    static let listedAnomalies = 10

    let room: Int
    let roomCode: String
    let member: Int
    private(set) var checker: SequenceChecker?
    var latency = MemberReader.makeHistogram()
    /// Deliveries of messages sent inside the measured window.
    private(set) var measured = 0
    /// Deliveries received inside the measured window.
    private(set) var inWindow = 0
    private(set) var otherFrames = 0
    private(set) var serverErrors = 0
    private(set) var serverErrorSample: String?
    private(set) var anomalies: [DeliveryAnomaly] = []

    init(room: Int, roomCode: String, member: Int) {
        self.room = room
        self.roomCode = roomCode
        self.member = member
    }

    /// Latencies in microseconds, 1 µs to 60 s, two significant digits (at most 1 % error).
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
    }

    /// Counts one frame received at `now`.
    mutating func receive(_ frame: ScannedFrame, at now: Int64, window: MeasurementWindow) -> Delivery {
        switch frame {
        case .message(let id, let stamp):
            var delivery = Delivery(anomaly: check(id, at: now))
            guard let stamp else { return delivery }
            delivery.seq = stamp.seq
            if window.contains(now) { inWindow += 1 }
            if window.contains(stamp.sentAt) {
                measured += 1
                delivery.measured = true
                let micros = UInt64(max(0, now - stamp.sentAt) / 1000)
                _ = latency.record(min(micros, latency.highestTrackableValue))
            }
            return delivery
        case .welcome(let lastID):
            // The first welcome anchors the id check.
            if checker == nil { checker = SequenceChecker(after: lastID) }
            otherFrames += 1
        case .error(let code):
            serverErrors += 1
            if serverErrorSample == nil { serverErrorSample = code }
        case .other, .unreadable:
            otherFrames += 1
        }
        return Delivery()
    }

    /// Feeds the id checker; returns whether the id was out of order.
    private mutating func check(_ id: Int64, at now: Int64) -> Bool {
        if checker == nil { checker = SequenceChecker() }
        switch checker!.observe(id, at: now) {
        case .inOrder:
            return false
        case .jump:
            // A jump is a gap only if it never heals; ``finish()`` lists the holes left open.
            return true
        case .late(let expected, let got):
            list(.reorder, expected: expected, got: got, at: now)
            return true
        case .duplicate(let expected, let got):
            list(.duplicate, expected: expected, got: got, at: now)
            return true
        }
    }

    private mutating func list(_ kind: DeliveryAnomaly.Kind, expected: Int64, got: Int64, missing: Int64? = nil, at time: Int64) {
        guard anomalies.lazy.filter({ $0.kind == kind }).count < Self.listedAnomalies else { return }
        anomalies.append(
            DeliveryAnomaly(
                kind: kind,
                room: roomCode,
                member: member,
                expected: expected,
                got: got,
                missing: missing,
                atSeconds: Double(time) / 1e9
            )
        )
    }

    /// Ends the stream: holes still open become gaps in the list.
    mutating func finish() {
        guard let checker else { return }
        for hole in checker.finish() {
            list(.gap, expected: hole.ids.lowerBound, got: hole.revealedBy, missing: Int64(hole.ids.count), at: hole.at)
        }
    }

    var gaps: Int { checker?.gapCount ?? 0 }
    var missingIDs: Int64 { checker?.missingIDs ?? 0 }
    var duplicates: Int { checker?.duplicateCount ?? 0 }
    var reorders: Int { checker?.lateCount ?? 0 }
}
