import Foundation

/// A snapshot of a running bench, reported once a second.
public struct BenchProgress: Sendable, Equatable {
    public enum Phase: String, Sendable {
        case connecting
        case warmup = "warm-up"
        case measuring
        case draining
        case closing
    }

    public var phase: Phase
    /// Seconds since the run began.
    public var elapsed: Double
    public var joined: Int
    public var members: Int
    /// Over the last interval.
    public var sentPerSecond: Double
    /// Over the last interval.
    public var deliveriesPerSecond: Double
    /// Out-of-order ids seen so far (jumps, duplicates and late ids; the report sorts them out).
    public var anomalies: Int

    /// One line for a terminal.
    public var line: String {
        let time = String(format: "%.1f", elapsed)
        switch phase {
        case .connecting:
            return "\(time)s connecting: \(joined)/\(members) members joined"
        default:
            return "\(time)s \(phase.rawValue): \(Int(sentPerSecond.rounded())) msg/s sent, "
                + "\(Int(deliveriesPerSecond.rounded())) deliveries/s, \(anomalies) id anomalies"
        }
    }
}
