import Metrics
import Prometheus

/// Requests and sockets refused before a WebSocket upgrade or at the HTTP API's edge, by reason.
struct EdgeMetrics: Sendable {
    let handshakeTimedOut: Metrics.Counter
    let tooManyUnfinished: Metrics.Counter
    /// HTTP sockets refused because their peer kept `--max-connections-per-address` open already.
    let tooManyKeptAlive: Metrics.Counter
    let rateLimited: Metrics.Counter
    let notJSON: Metrics.Counter
    let foreignOrigin: Metrics.Counter
    let foreignHost: Metrics.Counter
    /// Identity tokens refused (§13): bad signature, expired, another room or missing when required.
    let unauthorized: Metrics.Counter

    init(factory: PrometheusMetricsFactory) {
        let label = "parley_http_refused_total"
        func counter(_ reason: String) -> Metrics.Counter {
            Metrics.Counter(label: label, dimensions: [("reason", reason)], factory: factory)
        }
        handshakeTimedOut = counter("handshake_timeout")
        tooManyUnfinished = counter("unfinished_sockets")
        tooManyKeptAlive = counter("http_sockets")
        rateLimited = counter("rate_limited")
        notJSON = counter("content_type")
        foreignOrigin = counter("origin")
        foreignHost = counter("host")
        unauthorized = counter("unauthorized")
    }
}
