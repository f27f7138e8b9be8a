import Foundation

extension BenchReport {
    /// The report for a terminal, a few aligned lines.
    public var text: String {
        var lines: [String] = []
        let load =
            switch (rate, window) {
            case (let rate?, _): "open loop at \(Self.number(rate)) msg/s"
            case (_, let window?): "closed loop, window \(window)"
            default: loop
            }
        lines.append(
            "parley bench \(url): \(rooms) rooms x \(members) members, \(publishers) publisher\(publishers == 1 ? "" : "s") per room, "
                + "\(load), \(size)-byte texts, rooms \(roomPrefix)-*"
        )
        lines.append(
            "measured \(Self.number(durationSeconds)) s after \(Self.number(warmupSeconds)) s warm-up (setup \(Self.number(setupSeconds)) s)"
                + (completed ? "" : "; STOPPED AT THE HARD DEADLINE")
        )
        lines.append("sent         \(sent) messages, \(Self.number(sentPerSecond)) msg/s")
        lines.append("deliveries   \(Self.number(deliveriesPerSecond))/s; \(received) of \(expected) expected, \(lost) lost")
        lines.append(
            "latency ms   p50 \(Self.millis(latency.p50))  p90 \(Self.millis(latency.p90))  p99 \(Self.millis(latency.p99))  "
                + "p99.9 \(Self.millis(latency.p999))  max \(Self.millis(latency.max))  (\(latency.count) samples)"
        )
        if let cpuPercent { lines.append("bench CPU    \(Self.number(cpuPercent.rounded())) % of one core while measuring") }
        if let sendLagP99 { lines.append("send lag     p99 \(Self.millis(sendLagP99)) ms") }
        lines.append("ids          \(gaps) gaps (\(missingIDs) ids missing), \(duplicates) duplicates, \(reorders) reorders")
        for anomaly in anomalies {
            var line = "  \(anomaly.kind.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) room \(anomaly.room) member m\(anomaly.member): "
            line += "expected id \(anomaly.expected), got \(anomaly.got)"
            if let missing = anomaly.missing { line += " (\(missing) missing)" }
            line += " at \(String(format: "%.3f", anomaly.atSeconds)) s"
            lines.append(line)
        }
        if ackTimeouts > 0 { lines.append("ack timeouts \(ackTimeouts) messages given up") }
        if serverErrors > 0 { lines.append("server sent  \(serverErrors) errors, first: \(serverErrorSample ?? "?")") }
        if connectionErrors > 0 { lines.append("connections  \(connectionErrors) failed or closed early, first: \(connectionErrorSample ?? "?")") }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.1f", value)
    }

    private static func millis(_ value: Double) -> String {
        String(format: value < 10 ? "%.3f" : "%.1f", value)
    }
}
