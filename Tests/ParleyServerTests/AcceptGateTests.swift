import Foundation
import Logging
import NIOCore
import NIOEmbedded
import ParleyTestSupport
import Testing

@testable import ParleyServer

/// The listener's gate on an embedded channel and event loop, whose clock the tests move: reading stops at the
/// socket capacity and after a failed `accept`, and starts again when a socket closes or the pause is over.
/// (`ProcessTests` runs the real binary against its open-file limit.)
@Suite struct AcceptGateTests {
    /// An embedded listener with the gate, recording each time the gate turns reading on or off.
    final class Listener {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let metrics = ParleyMetrics()
        private(set) var reading: [Bool] = []

        init(capacity: Int) throws {
            channel = EmbeddedChannel(loop: loop)
            let gate = AcceptGate(capacity: capacity, metrics: metrics, logger: .quiet) { [unowned self] _, on in
                self.reading.append(on)
            }
            try channel.pipeline.syncOperations.addHandler(gate)
        }

        /// A socket accepted by the listener.
        func accept() throws -> EmbeddedChannel {
            let socket = EmbeddedChannel(loop: loop)
            try channel.writeInbound(socket as any Channel)
            // The gate passes every socket on.
            #expect(try channel.readInbound(as: (any Channel).self) != nil)
            return socket
        }

        /// `parley_accept_paused_total` for `reason`, as `/metrics` shows it.
        func paused(_ reason: String) -> String? {
            var text: [UInt8] = []
            metrics.registry.emit(into: &text)
            let prefix = "parley_accept_paused_total{reason=\"\(reason)\"} "
            return String(decoding: text, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(prefix) }
                .map { String($0.dropFirst(prefix.count)) }
        }

        func close(_ socket: EmbeddedChannel) throws {
            _ = try socket.finish()
            loop.run()
        }
    }

    @Test func readingStopsAtTheCapacityAndStartsWhenASocketCloses() throws {
        let listener = try Listener(capacity: 2)
        let first = try listener.accept()
        #expect(listener.reading.isEmpty)
        let second = try listener.accept()
        #expect(listener.reading == [false])
        // One read of the listener may accept a few more before it stops.
        let third = try listener.accept()
        #expect(listener.reading == [false])

        try listener.close(first)
        #expect(listener.reading == [false], "three open, capacity two")
        try listener.close(second)
        #expect(listener.reading == [false, true])
        try listener.close(third)
        #expect(listener.reading == [false, true])

        // Full again.
        let fourth = try listener.accept()
        let fifth = try listener.accept()
        #expect(listener.reading == [false, true, false])
        try listener.close(fourth)
        try listener.close(fifth)
        #expect(listener.reading == [false, true, false, true])
        #expect(listener.paused("open_files") == "2")
        #expect(listener.paused("accept_failed") == "0")
    }

    @Test func aFailedAcceptPausesReadingForASecond() throws {
        let listener = try Listener(capacity: 10)
        listener.channel.pipeline.fireErrorCaught(IOError(errnoCode: EMFILE, reason: "accept"))
        #expect(listener.reading == [false])
        // A second failure within the pause changes nothing.
        listener.channel.pipeline.fireErrorCaught(IOError(errnoCode: ENFILE, reason: "accept"))
        listener.loop.advanceTime(by: .milliseconds(999))
        #expect(listener.reading == [false])
        listener.loop.advanceTime(by: .milliseconds(1))
        #expect(listener.reading == [false, true])
        #expect(listener.paused("accept_failed") == "1")
        _ = try listener.channel.finish()
    }

    @Test func aPauseThatEndsWhileFullKeepsReadingOff() throws {
        let listener = try Listener(capacity: 1)
        listener.channel.pipeline.fireErrorCaught(IOError(errnoCode: EMFILE, reason: "accept"))
        let socket = try listener.accept()
        #expect(listener.reading == [false, false])
        listener.loop.advanceTime(by: .seconds(1))
        #expect(listener.reading == [false, false, false], "still at the capacity")
        try listener.close(socket)
        #expect(listener.reading.last == true)
    }

    @Test func otherErrorsPassOn() throws {
        let listener = try Listener(capacity: 10)
        listener.channel.pipeline.fireErrorCaught(IOError(errnoCode: ECONNABORTED, reason: "accept"))
        #expect(throws: IOError.self) { try listener.channel.throwIfErrorCaught() }
        #expect(listener.reading.isEmpty)
    }
}
