import Histogram

/// What one publisher did, merged into the run's tally when it stops.
struct PublisherResult: Sendable {
    /// Messages written inside the measured window.
    var sentMeasured = 0
    /// Open loop: how late each measured send was against its schedule, in microseconds.
    var lag = MemberReader.makeHistogram()
    /// Why it stopped early, if it did.
    var error: String?
}
