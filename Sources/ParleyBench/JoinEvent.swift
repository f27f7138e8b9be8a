/// What members tell the coordinator while they join.
enum JoinEvent: Sendable {
    /// A member has its `welcome`.
    case joined
    /// A member could not connect, or its connection ended before `welcome`.
    case failed(BenchError)
    /// The join timeout passed.
    case timedOut
}
