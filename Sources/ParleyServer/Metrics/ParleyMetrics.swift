import Metrics
import ParleyProtocol
import Prometheus

/// Every metric the server records, created once with fixed labels (never a room or a nick).
public struct ParleyMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let connections: Metrics.Meter
    let connectionsRefused: Metrics.Counter
    let roomsInMemory: Metrics.Gauge
    let messagesStored: Metrics.Counter
    let deliveries: Metrics.Counter
    let slowConsumersClosed: Metrics.Counter
    let refusedRateLimited: Metrics.Counter
    let refusedTooLarge: Metrics.Counter
    let refusedBadRequest: Metrics.Counter
    let refusedUnknownType: Metrics.Counter
    let closedBinary: Metrics.Counter
    let commitLatency: Metrics.Timer
    let storageFailures: Metrics.Counter
    /// Refusals before the upgrade and at the HTTP API's edge.
    let edge: EdgeMetrics
    /// 1 while storage takes writes, 0 after a commit or `/healthz` probe failed (see ``StorageHealth``).
    let storageHealthy: Metrics.Gauge
    /// Files (§14): stored bytes, uploads and refused uploads.
    let files: FileMetrics
    /// The listener stopped accepting: at the sockets the open-file limit allows, or for a second after a failed
    /// `accept` (``AcceptGate``).
    let acceptPausedAtCapacity: Metrics.Counter
    let acceptPausedAfterFailure: Metrics.Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .seconds(1),
        ]
        self.registry = registry
        connections = Metrics.Meter(label: "parley_connections", factory: factory)
        connectionsRefused = Metrics.Counter(label: "parley_connections_refused_total", factory: factory)
        roomsInMemory = Metrics.Gauge(label: "parley_rooms_in_memory", factory: factory)
        messagesStored = Metrics.Counter(label: "parley_messages_stored_total", factory: factory)
        deliveries = Metrics.Counter(label: "parley_deliveries_total", factory: factory)
        slowConsumersClosed = Metrics.Counter(label: "parley_slow_consumers_closed_total", factory: factory)
        let refused = "parley_frames_refused_total"
        refusedRateLimited = Metrics.Counter(label: refused, dimensions: [("reason", "rate_limited")], factory: factory)
        refusedTooLarge = Metrics.Counter(label: refused, dimensions: [("reason", "too_large")], factory: factory)
        refusedBadRequest = Metrics.Counter(label: refused, dimensions: [("reason", "bad_request")], factory: factory)
        refusedUnknownType = Metrics.Counter(label: refused, dimensions: [("reason", "unknown_type")], factory: factory)
        closedBinary = Metrics.Counter(label: refused, dimensions: [("reason", "binary")], factory: factory)
        commitLatency = Metrics.Timer(label: "parley_storage_commit_seconds", factory: factory)
        storageFailures = Metrics.Counter(label: "parley_storage_failures_total", factory: factory)
        edge = EdgeMetrics(factory: factory)
        storageHealthy = Metrics.Gauge(label: "parley_storage_healthy", factory: factory)
        files = FileMetrics(factory: factory)
        let paused = "parley_accept_paused_total"
        acceptPausedAtCapacity = Metrics.Counter(label: paused, dimensions: [("reason", "open_files")], factory: factory)
        acceptPausedAfterFailure = Metrics.Counter(label: paused, dimensions: [("reason", "accept_failed")], factory: factory)
    }

    /// Counts a refused command under its error code.
    func refused(_ code: ErrorCode) {
        switch code {
        case .rateLimited: refusedRateLimited.increment()
        case .tooLarge: refusedTooLarge.increment()
        case .unknownType: refusedUnknownType.increment()
        default: refusedBadRequest.increment()
        }
    }
}
