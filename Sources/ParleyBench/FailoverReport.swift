import Foundation

/// What a failover run saw: every member's deliveries across the loss of a node, and how long the members
/// that lost their node took to be welcomed on another.
public struct FailoverReport: Codable, Sendable, Equatable {
    public var url: String
    public var roomPrefix: String
    public var rooms: Int
    public var members: Int
    public var connections: Int
    public var publishers: Int
    /// Messages per second in total.
    public var rate: Double
    public var durationSeconds: Double
    /// When the fault ran, in seconds after the publishers started (`nil`: no fault command).
    public var faultAtSeconds: Double?

    public var joined = 0
    /// Messages sent once, sent again after a move or an ack timeout, and never acknowledged.
    public var sent = 0
    public var resent = 0
    public var unacknowledged = 0
    /// Bench messages received, summed over the members.
    public var deliveries = 0
    /// Members whose connection dropped, and those of them welcomed again.
    public var moved = 0
    public var back = 0
    /// Seconds from the publishers' start to the first drop.
    public var firstDropSeconds: Double?
    /// Seconds from the first drop until the last moved member had its `welcome` again.
    public var allBackSeconds: Double?
    public var gaps = 0
    public var missingIDs: Int64 = 0
    public var duplicates = 0
    public var reorders = 0
    /// Messages received under a second id (a resend stored again).
    public var storedTwice = 0
    public var storedTwiceSample: String?
    /// Members that never received their room's newest message.
    public var behind = 0
    /// Members a `welcome` gave another nick than the one they asked for (or reclaimed with `session`).
    public var lostNicks = 0
    public var lostNickSample: String?
    public var anomalies: [DeliveryAnomaly] = []
    /// `error` events received (for instance `unavailable` while a node could not store), and the first code.
    public var serverErrors = 0
    public var serverErrorSample: String?
    /// Members that could not join, or could not come back within the join timeout.
    public var failed = 0
    public var firstError: String?
    /// Every phase ran to its end: everyone joined, the fault ran, and the drain saw everything settle.
    public var completed = false

    public init(url: String, roomPrefix: String, rooms: Int, members: Int, publishers: Int, rate: Double, durationSeconds: Double) {
        self.url = url
        self.roomPrefix = roomPrefix
        self.rooms = rooms
        self.members = members
        self.connections = rooms * members
        self.publishers = publishers
        self.rate = rate
        self.durationSeconds = durationSeconds
    }

    public var hasFaults: Bool { gaps > 0 || duplicates > 0 || reorders > 0 || storedTwice > 0 || lostNicks > 0 || behind > 0 }
    public var isClean: Bool {
        completed && firstError == nil && failed == 0 && unacknowledged == 0 && back == moved && joined == connections && !hasFaults
    }

    enum CodingKeys: String, CodingKey {
        case url, rooms, members, connections, publishers, rate, joined, sent, resent, unacknowledged, deliveries, moved, back, gaps,
            duplicates, reorders, behind, anomalies, failed, completed
        case roomPrefix = "room_prefix"
        case durationSeconds = "duration_s"
        case faultAtSeconds = "fault_at_s"
        case firstDropSeconds = "first_drop_s"
        case allBackSeconds = "all_back_s"
        case missingIDs = "missing_ids"
        case storedTwice = "stored_twice"
        case storedTwiceSample = "stored_twice_sample"
        case lostNicks = "lost_nicks"
        case lostNickSample = "lost_nick_sample"
        case firstError = "first_error"
        case serverErrors = "server_errors"
        case serverErrorSample = "server_error_sample"
    }

    /// The plain-text report.
    public var text: String {
        func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "-" }
        var lines = [
            "parley bench --failover \(url): \(rooms) rooms x \(members) members, \(publishers) publishers per room, "
                + String(format: "%.0f", rate) + " messages/s for \(seconds(durationSeconds)), rooms \(roomPrefix)-*",
            "joined       \(joined) of \(connections)",
            "fault        " + (faultAtSeconds.map { "at \(seconds($0)); " } ?? "") + "first drop at \(seconds(firstDropSeconds))",
            "moved        \(moved) members, \(back) back, the last after \(seconds(allBackSeconds)) from the first drop",
            "messages     \(sent) sent, \(resent) resent, \(unacknowledged) never acknowledged; \(deliveries) deliveries",
            "ids          \(gaps) gaps (\(missingIDs) ids missing), \(duplicates) duplicates, \(reorders) reorders, "
                + "\(storedTwice) stored twice, \(behind) members behind" + (storedTwiceSample.map { " (\($0))" } ?? ""),
            "nicks        \(lostNicks) lost" + (lostNickSample.map { " (\($0))" } ?? ""),
        ]
        if serverErrors > 0 { lines.append("errors       \(serverErrors) from the server (first: \(serverErrorSample ?? "-"))") }
        if failed > 0 { lines.append("failed       \(failed) members") }
        if let firstError { lines.append("stopped      \(firstError)") }
        for anomaly in anomalies {
            let missing = anomaly.missing.map { " (\($0) missing)" } ?? ""
            lines.append(
                "\(anomaly.kind.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) room \(anomaly.room) member m\(anomaly.member): "
                    + "expected id \(anomaly.expected), got \(anomaly.got)\(missing)"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
