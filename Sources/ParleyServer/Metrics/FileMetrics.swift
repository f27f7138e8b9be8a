import Metrics
import Prometheus

/// Files (§14): what storage holds, what was uploaded and what was refused, by reason.
struct FileMetrics: Sendable {
    enum Reason {
        case fileTooLarge, roomFull, badRequest, serverFull
    }

    /// Bytes of file content stored (shared content counted once), as of the last sweep or upload.
    let storedBytes: Metrics.Gauge
    let uploads: Metrics.Counter
    let uploadedBytes: Metrics.Counter
    let refusedFileTooLarge: Metrics.Counter
    let refusedRoomFull: Metrics.Counter
    let refusedBadRequest: Metrics.Counter
    let refusedServerFull: Metrics.Counter

    init(factory: PrometheusMetricsFactory) {
        storedBytes = Metrics.Gauge(label: "parley_file_bytes", factory: factory)
        uploads = Metrics.Counter(label: "parley_file_uploads_total", factory: factory)
        uploadedBytes = Metrics.Counter(label: "parley_file_uploaded_bytes_total", factory: factory)
        let refused = "parley_file_uploads_refused_total"
        refusedFileTooLarge = Metrics.Counter(label: refused, dimensions: [("reason", "file_too_large")], factory: factory)
        refusedRoomFull = Metrics.Counter(label: refused, dimensions: [("reason", "room_full")], factory: factory)
        refusedBadRequest = Metrics.Counter(label: refused, dimensions: [("reason", "bad_request")], factory: factory)
        refusedServerFull = Metrics.Counter(label: refused, dimensions: [("reason", "server_full")], factory: factory)
    }

    func refused(_ reason: Reason) {
        switch reason {
        case .fileTooLarge: refusedFileTooLarge.increment()
        case .roomFull: refusedRoomFull.increment()
        case .badRequest: refusedBadRequest.increment()
        case .serverFull: refusedServerFull.increment()
        }
    }
}
