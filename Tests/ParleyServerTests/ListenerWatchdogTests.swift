import Testing

@testable import ParleyServer

/// When a listener that gets no error counts as deaf, on a fake clock.
@Suite struct ListenerWatchdogTests {
    let start = ContinuousClock.now

    func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }

    func deaf(_ watchdog: inout ListenerWatchdog, at seconds: Int) -> Bool { watchdog.isDeaf(at: at(seconds)) }

    @Test func anEchoHeardInTimeKeepsTheListener() {
        var watchdog = ListenerWatchdog(deadline: .seconds(5))
        watchdog.listening()
        let echo = watchdog.nextEcho()
        watchdog.committed(echo, at: at(0))
        watchdog.heard(echo)
        #expect(!deaf(&watchdog, at: 60))
    }

    @Test func anEchoNotHeardByTheDeadlineMakesItReconnectAndAStuckReconnectAgain() {
        var watchdog = ListenerWatchdog(deadline: .seconds(5))
        watchdog.listening()
        watchdog.committed(watchdog.nextEcho(), at: at(0))
        watchdog.committed(watchdog.nextEcho(), at: at(3))
        #expect(!deaf(&watchdog, at: 4))
        #expect(deaf(&watchdog, at: 5), "the oldest unheard echo counts")
        #expect(!deaf(&watchdog, at: 6), "reconnecting")
        #expect(deaf(&watchdog, at: 10), "no LISTEN within the deadline of reconnecting")
        watchdog.listening()
        #expect(!deaf(&watchdog, at: 30))
    }

    /// Echoes that failed, were sent before the current LISTEN, or were heard before their commit was seen
    /// prove nothing.
    @Test func onlyEchoesTheListenerCouldHearCount() {
        var watchdog = ListenerWatchdog(deadline: .seconds(5))
        let beforeListen = watchdog.nextEcho()
        watchdog.listening()
        watchdog.committed(beforeListen, at: at(0))
        #expect(!deaf(&watchdog, at: 10))
        _ = watchdog.nextEcho()  // its NOTIFY failed: never committed
        #expect(!deaf(&watchdog, at: 20))
        let early = watchdog.nextEcho()
        watchdog.heard(early)
        watchdog.committed(early, at: at(20))
        #expect(!deaf(&watchdog, at: 30))
    }
}
