/// The outcome of a bench run: throughput, latency, and every fault in the message ids.
///
/// Counts cover messages *sent* inside the measured window (`sent`, `expected`, `received`, `lost`, latency),
/// except `deliveriesPerSecond`, which counts deliveries *received* inside it. Ids are checked over the whole
/// run, warm-up included, from each member's `welcome` on.
public struct BenchReport: Codable, Sendable, Equatable {
    /// Latency percentiles in milliseconds, from an HdrHistogram of receive − send times.
    public struct Latency: Codable, Sendable, Equatable {
        public var count: UInt64
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double
        public var mean: Double

        public init(count: UInt64, p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
            self.count = count
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.p999 = p999
            self.max = max
            self.mean = mean
        }
    }

    public var url: String
    public var roomPrefix: String
    public var rooms: Int
    public var members: Int
    public var publishers: Int
    /// `open` or `closed`.
    public var loop: String
    /// Open loop: the target messages per second in total.
    public var rate: Double?
    /// Closed loop: messages in flight per publisher.
    public var window: Int?
    public var warmupSeconds: Double
    public var durationSeconds: Double
    public var size: Int
    /// False when the hard deadline stopped the run before it finished.
    public var completed: Bool
    public var setupSeconds: Double

    public var sent: Int
    public var sentPerSecond: Double
    /// Deliveries owed for the measured messages: every member receives every message, the sender included.
    public var expected: Int
    public var received: Int
    /// Measured deliveries still missing when the drain ended.
    public var lost: Int
    public var deliveriesPerSecond: Double
    public var latency: Latency
    /// Open loop: how late the publishers' sends were against their schedule (p99, ms).
    public var sendLagP99: Double?

    /// Holes in some member's ids that never filled.
    public var gaps: Int
    /// Ids inside those holes.
    public var missingIDs: Int64
    public var duplicates: Int
    public var reorders: Int
    /// The first few gaps, duplicates and reorders, oldest first.
    public var anomalies: [DeliveryAnomaly]

    /// Closed loop: messages given up after the ack timeout.
    public var ackTimeouts: Int
    /// `error` events from the server (e.g. `rate_limited`), with the first code.
    public var serverErrors: Int
    public var serverErrorSample: String?
    /// Connections that failed or closed before the end, with the first reason.
    public var connectionErrors: Int
    public var connectionErrorSample: String?
    /// Frames that were not `message` events (`welcome`, `join`, …).
    public var otherFrames: Int
    /// The bench's own CPU use over the measured window, in percent of one core: near 100 % per core it may
    /// be the bottleneck rather than the server.
    public var cpuPercent: Double?

    /// No gap, duplicate or reordering, and nothing lost.
    public var isClean: Bool { gaps == 0 && duplicates == 0 && reorders == 0 && lost == 0 }

    /// Some id was out of order: a gap, a duplicate or a reordering.
    public var hasIDFaults: Bool { gaps > 0 || duplicates > 0 || reorders > 0 }

    enum CodingKeys: String, CodingKey {
        case url, rooms, members, publishers, loop, rate, window, size, completed, sent, expected, received, lost, latency
        case gaps, duplicates, reorders, anomalies
        case roomPrefix = "room_prefix"
        case warmupSeconds = "warmup_s"
        case durationSeconds = "duration_s"
        case setupSeconds = "setup_s"
        case sentPerSecond = "sent_per_s"
        case deliveriesPerSecond = "deliveries_per_s"
        case sendLagP99 = "send_lag_p99_ms"
        case missingIDs = "missing_ids"
        case ackTimeouts = "ack_timeouts"
        case serverErrors = "server_errors"
        case serverErrorSample = "server_error_sample"
        case connectionErrors = "connection_errors"
        case connectionErrorSample = "connection_error_sample"
        case otherFrames = "other_frames"
        case cpuPercent = "cpu_pct"
    }
}
