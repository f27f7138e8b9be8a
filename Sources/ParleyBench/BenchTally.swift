import Histogram

/// The run's totals: every member's reader and every publisher's result, merged as each one ends.
struct BenchTally: Sendable {
    var latency = MemberReader.makeHistogram()
    var sendLag = MemberReader.makeHistogram()
    var measured = 0
    var inWindow = 0
    var otherFrames = 0
    var serverErrors = 0
    var serverErrorSample: String?
    var gaps = 0
    var missingIDs: Int64 = 0
    var duplicates = 0
    var reorders = 0
    var anomalies: [DeliveryAnomaly] = []
    var sentMeasured = 0
    var connectionErrors = 0
    var connectionErrorSample: String?

    mutating func add(_ reader: MemberReader) {
        latency.add(reader.latency)
        measured += reader.measured
        inWindow += reader.inWindow
        otherFrames += reader.otherFrames
        serverErrors += reader.serverErrors
        if serverErrorSample == nil { serverErrorSample = reader.serverErrorSample }
        gaps += reader.gaps
        missingIDs += reader.missingIDs
        duplicates += reader.duplicates
        reorders += reader.reorders
        anomalies += reader.anomalies
    }

    mutating func add(_ publisher: PublisherResult) {
        sentMeasured += publisher.sentMeasured
        sendLag.add(publisher.lag)
        if let error = publisher.error { connectionError(error) }
    }

    mutating func connectionError(_ description: String) {
        connectionErrors += 1
        if connectionErrorSample == nil { connectionErrorSample = description }
    }
}
