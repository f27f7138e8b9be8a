extension StormRunner {
    /// The coordinator's view: counts of what the members reported, read from one stream.
    struct Tracker {
        struct Counts {
            var joined = 0
            var caughtUp = 0
            var dropped = 0
            var announced = 0
            var rejoined = 0
            var done = 0
            var retries = 0
            var failed = 0
            var closedAfterResume = 0
            var finished = 0
            var lastJoin: ContinuousClock.Instant?
            var lastRejoin: ContinuousClock.Instant?
            var lastDone: ContinuousClock.Instant?
            var firstError: String?
            var members: [StormMember] = []
        }

        var iterator: AsyncStream<Event>.Iterator
        var counts = Counts()

        /// Takes events until `condition` holds (true) or `deadline` passes (false).
        mutating func wait(until deadline: ContinuousClock.Instant, _ condition: (Counts) -> Bool) async -> Bool {
            while !condition(counts) {
                guard ContinuousClock.now < deadline, let event = await iterator.next() else { return false }
                switch event {
                case .joined:
                    counts.joined += 1
                    counts.lastJoin = .now
                case .caughtUp: counts.caughtUp += 1
                case .dropped: counts.dropped += 1
                case .announced: counts.announced += 1
                case .rejoined(let at):
                    counts.rejoined += 1
                    counts.lastRejoin = at
                case .done(let at):
                    counts.done += 1
                    counts.lastDone = at
                case .retried: counts.retries += 1
                case .failed(let problem):
                    counts.failed += 1
                    counts.firstError = counts.firstError ?? problem
                case .closedAfterResume(let problem):
                    counts.closedAfterResume += 1
                    counts.firstError = counts.firstError ?? problem
                case .finished(let member):
                    counts.finished += 1
                    counts.members.append(member)
                case .tick: break
                }
            }
            return true
        }
    }
}
