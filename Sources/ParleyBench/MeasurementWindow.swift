/// The measured part of the run, in ``BenchClock`` nanoseconds: `start..<end`.
struct MeasurementWindow: Sendable, Equatable {
    var start: Int64
    var end: Int64

    /// Not yet known: nothing falls inside.
    static let unknown = MeasurementWindow(start: .max, end: .max)

    func contains(_ time: Int64) -> Bool { time >= start && time < end }
}
