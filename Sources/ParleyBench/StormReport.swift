import Foundation

/// What a reconnect storm saw: how fast everyone came back after the restart, and whether every member got
/// exactly the messages it missed, under its own nick.
public struct StormReport: Codable, Sendable, Equatable {
    public var url: String
    public var roomPrefix: String
    public var rooms: Int
    public var members: Int
    public var connections: Int
    /// Messages sent to each room before the restart, and while everyone was away.
    public var history: Int
    public var missed: Int

    /// First connections: how many got their `welcome`, and how long the last one took.
    public var joined = 0
    public var joinSeconds = 0.0
    /// Seconds the restart took (the command's run time).
    public var restartSeconds = 0.0
    /// Connections the restart closed.
    public var dropped = 0
    /// Members back with a `welcome` after the restart, and seconds from the restart's end to the last one.
    public var rejoined = 0
    public var allBackSeconds = 0.0
    /// Seconds from the restart's end until every member back had every message.
    public var caughtUpSeconds: Double?
    /// Members back that still missed messages at the end.
    public var behind = 0
    public var gaps = 0
    public var missingIDs: Int64 = 0
    public var duplicates = 0
    public var reorders = 0
    /// Members a `welcome` gave another nick than the one they asked for (or reclaimed with `session`).
    public var lostNicks = 0
    public var lostNickSample: String?
    public var anomalies: [DeliveryAnomaly] = []
    /// Dials refused and tried again, and members that never got in.
    public var retries = 0
    public var failed = 0
    /// Members back after the restart that the server closed before the run stopped.
    public var closedAfterResume = 0
    public var firstError: String?
    /// The bench's own CPU time while everyone reconnected, in % of one core.
    public var cpuPercent: Double?
    /// Every phase ran to its end (nothing timed out or failed to connect).
    public var completed = false

    public init(url: String, roomPrefix: String, rooms: Int, members: Int, history: Int, missed: Int) {
        self.url = url
        self.roomPrefix = roomPrefix
        self.rooms = rooms
        self.members = members
        self.connections = rooms * members
        self.history = history
        self.missed = missed
    }

    /// First connections per second.
    public var joinsPerSecond: Double { joinSeconds > 0 ? Double(joined) / joinSeconds : 0 }
    /// Reconnections per second over the storm.
    public var connectsPerSecond: Double { allBackSeconds > 0 ? Double(rejoined) / allBackSeconds : 0 }

    public var hasFaults: Bool { gaps > 0 || duplicates > 0 || reorders > 0 || lostNicks > 0 || behind > 0 }
    public var isClean: Bool { completed && failed == 0 && closedAfterResume == 0 && rejoined == connections && !hasFaults }

    enum CodingKeys: String, CodingKey {
        case url, rooms, members, connections, history, missed, joined, dropped, rejoined, behind, gaps, duplicates, reorders, anomalies,
            retries, failed, completed
        case closedAfterResume = "closed_after_resume"
        case roomPrefix = "room_prefix"
        case joinSeconds = "join_s"
        case restartSeconds = "restart_s"
        case allBackSeconds = "all_back_s"
        case caughtUpSeconds = "caught_up_s"
        case missingIDs = "missing_ids"
        case lostNicks = "lost_nicks"
        case lostNickSample = "lost_nick_sample"
        case firstError = "first_error"
        case cpuPercent = "cpu_pct"
        case joinsPerSecond = "joins_per_s"
        case connectsPerSecond = "connects_per_s"
    }

    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        url = try values.decode(String.self, forKey: .url)
        roomPrefix = try values.decode(String.self, forKey: .roomPrefix)
        rooms = try values.decode(Int.self, forKey: .rooms)
        members = try values.decode(Int.self, forKey: .members)
        connections = try values.decode(Int.self, forKey: .connections)
        history = try values.decode(Int.self, forKey: .history)
        missed = try values.decode(Int.self, forKey: .missed)
        joined = try values.decode(Int.self, forKey: .joined)
        joinSeconds = try values.decode(Double.self, forKey: .joinSeconds)
        restartSeconds = try values.decode(Double.self, forKey: .restartSeconds)
        dropped = try values.decode(Int.self, forKey: .dropped)
        rejoined = try values.decode(Int.self, forKey: .rejoined)
        allBackSeconds = try values.decode(Double.self, forKey: .allBackSeconds)
        caughtUpSeconds = try values.decodeIfPresent(Double.self, forKey: .caughtUpSeconds)
        behind = try values.decode(Int.self, forKey: .behind)
        gaps = try values.decode(Int.self, forKey: .gaps)
        missingIDs = try values.decode(Int64.self, forKey: .missingIDs)
        duplicates = try values.decode(Int.self, forKey: .duplicates)
        reorders = try values.decode(Int.self, forKey: .reorders)
        lostNicks = try values.decode(Int.self, forKey: .lostNicks)
        lostNickSample = try values.decodeIfPresent(String.self, forKey: .lostNickSample)
        anomalies = try values.decode([DeliveryAnomaly].self, forKey: .anomalies)
        retries = try values.decode(Int.self, forKey: .retries)
        failed = try values.decode(Int.self, forKey: .failed)
        closedAfterResume = try values.decode(Int.self, forKey: .closedAfterResume)
        firstError = try values.decodeIfPresent(String.self, forKey: .firstError)
        cpuPercent = try values.decodeIfPresent(Double.self, forKey: .cpuPercent)
        completed = try values.decode(Bool.self, forKey: .completed)
    }

    public func encode(to encoder: any Encoder) throws {
        var values = encoder.container(keyedBy: CodingKeys.self)
        try values.encode(url, forKey: .url)
        try values.encode(roomPrefix, forKey: .roomPrefix)
        try values.encode(rooms, forKey: .rooms)
        try values.encode(members, forKey: .members)
        try values.encode(connections, forKey: .connections)
        try values.encode(history, forKey: .history)
        try values.encode(missed, forKey: .missed)
        try values.encode(joined, forKey: .joined)
        try values.encode(joinSeconds, forKey: .joinSeconds)
        try values.encode(joinsPerSecond, forKey: .joinsPerSecond)
        try values.encode(restartSeconds, forKey: .restartSeconds)
        try values.encode(dropped, forKey: .dropped)
        try values.encode(rejoined, forKey: .rejoined)
        try values.encode(allBackSeconds, forKey: .allBackSeconds)
        try values.encode(connectsPerSecond, forKey: .connectsPerSecond)
        try values.encodeIfPresent(caughtUpSeconds, forKey: .caughtUpSeconds)
        try values.encode(behind, forKey: .behind)
        try values.encode(gaps, forKey: .gaps)
        try values.encode(missingIDs, forKey: .missingIDs)
        try values.encode(duplicates, forKey: .duplicates)
        try values.encode(reorders, forKey: .reorders)
        try values.encode(lostNicks, forKey: .lostNicks)
        try values.encodeIfPresent(lostNickSample, forKey: .lostNickSample)
        try values.encode(anomalies, forKey: .anomalies)
        try values.encode(retries, forKey: .retries)
        try values.encode(failed, forKey: .failed)
        try values.encode(closedAfterResume, forKey: .closedAfterResume)
        try values.encodeIfPresent(firstError, forKey: .firstError)
        try values.encodeIfPresent(cpuPercent, forKey: .cpuPercent)
        try values.encode(completed, forKey: .completed)
    }

    /// The plain-text report.
    public var text: String {
        func seconds(_ value: Double) -> String { String(format: "%.2f s", value) }
        func rate(_ value: Double) -> String { String(format: "%.0f/s", value) }
        var lines = [
            "parley bench --storm \(url): \(rooms) rooms x \(members) members, \(history) messages before the restart, \(missed) while away, rooms \(roomPrefix)-*",
            "joined       \(joined) of \(connections) in \(seconds(joinSeconds)) (\(rate(joinsPerSecond)))",
            "restart      \(seconds(restartSeconds)), \(dropped) connections dropped",
            "all back     \(rejoined) of \(connections) in \(seconds(allBackSeconds)) (\(rate(connectsPerSecond)))"
                + (cpuPercent.map { String(format: ", bench CPU %.0f %% of one core", $0) } ?? ""),
            "caught up    "
                + (caughtUpSeconds.map { "every member back had every message after \(seconds($0))" } ?? "\(behind) members still behind"),
            "ids          \(gaps) gaps (\(missingIDs) ids missing), \(duplicates) duplicates, \(reorders) reorders",
            "nicks        \(lostNicks) lost" + (lostNickSample.map { " (\($0))" } ?? ""),
        ]
        if retries > 0 || failed > 0 || closedAfterResume > 0 {
            lines.append("dials        \(retries) retried, \(failed) failed, \(closedAfterResume) closed by the server after resuming")
        }
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
