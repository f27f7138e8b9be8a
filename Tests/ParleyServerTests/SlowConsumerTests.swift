import Foundation
import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Testing

@testable import ParleyServer

@Suite struct SlowConsumerTests {
    @Test func historyRequestsThatAreNeverReadAreCutOff() async throws {
        try await withServer(.set(\.ratePerSecond, 0), .set(\.maxOutboundBytes, 64 * 1024), .set(\.writeTimeout, .seconds(1))) { server in
            let (writer, _) = try await server.join("room=greedy&nick=writer")
            try await writer.sendConfirmed(200)
            // Each reply is one ~10 KB page; the client reads none of them, so once the socket's buffers are
            // full the replies pile up in its outbox until the limit closes it.
            let greedy = try await server.connect("room=greedy&nick=greedy", readAutomatically: false)
            for _ in 0..<2000 {
                do {
                    try await greedy.send(.history(before: nil, limit: 200))
                } catch {
                    break  // closed by the server
                }
            }
            // The sends can all fit in the kernel's buffers before the replies pass the limit: the cut-off
            // comes only while the client reads nothing, so wait for it before reading.
            try await eventually {
                let metrics = try await server.http("GET", "/metrics")
                guard metrics.body.contains("parley_slow_consumers_closed_total 1") else {
                    throw RawSocket.Failure.unexpected("not cut off yet")
                }
            }
            // Its socket is full and it still reads nothing: the server queues the close anyway and drops
            // the socket once it has taken nothing for the write timeout, leaving only the writer connected.
            try await eventually {
                let metrics = try await server.http("GET", "/metrics")
                guard metrics.body.split(separator: "\n").contains("parley_connections 1.0") else {
                    throw RawSocket.Failure.unexpected("the greedy socket is still open")
                }
            }
            // The channel may already be closed (a send failed above): what arrived before still counts.
            _ = greedy.channel.setOption(ChannelOptions.autoRead, value: true)
            greedy.channel.read()
            let code = try await greedy.closeCode()
            #expect(code == 1008 || code == nil)  // nil: the write timeout dropped the socket first
        }
    }

    /// A member that reads, only slower than it is sent to, is cut off like one that stops, but it keeps its
    /// socket while the socket takes bytes: it reads everything the server had handed to the socket, then
    /// close 1008, and resumes with `since`.
    @Test func aSlowReaderGetsAPrefixThenClose1008() async throws {
        let total = 2000
        let text = String(repeating: "t", count: 4000)
        try await withServer(
            timeout: .seconds(120),
            .set(\.ratePerSecond, 0),
            .set(\.maxOutboundBytes, 64 * 1024),
            .set(\.closeTimeout, .milliseconds(100)),
            .set(\.writeTimeout, .seconds(120))
        ) { server in
            let slow = try await server.connect("room=trickle&nick=slow", readAutomatically: false)
            // Each read takes at most 4 KB.
            try await slow.channel.setOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 4096)).get()
            try await slow.channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1).get()
            let (writer, _) = try await server.join("room=trickle&nick=writer")
            // The first message is read before the rest are sent, so the prefix is never empty, however late a
            // busy machine's event loop hands the slow member's outbox to its socket.
            try await writer.send(.message(text: text, clientID: "t1"))
            _ = try await writer.nextMessage()
            try await slow.channel.setOption(ChannelOptions.autoRead, value: true).get()
            #expect(try await slow.nextMessage().id == 1)
            try await slow.channel.setOption(ChannelOptions.autoRead, value: false).get()
            try await withThrowingTaskGroup(of: (last: Int64, code: UInt16?, reason: String).self) { group in
                group.addTask { try await readUntilClosed(slow, after: 1) }
                // For every 10 messages (40 KB, within the writer's own limit) the slow member reads at most 4 KB:
                // it falls behind however fast or slow the machine is, but it never stops reading.
                for first in stride(from: 2, through: total, by: 10) {
                    let batch = first..<min(first + 10, total + 1)
                    for n in batch { try await writer.send(.message(text: text, clientID: "t\(n)")) }
                    for _ in batch { _ = try await writer.nextMessage() }
                    slow.channel.read()
                }
                // Then it reads on. (The channel may be closed already: what arrived before still counts.)
                _ = slow.channel.setOption(ChannelOptions.autoRead, value: true)
                slow.channel.read()
                let (last, code, reason) = try #require(try await group.next())
                #expect(code == 1008 && reason == "slow consumer")
                #expect(last > 0 && last < Int64(total))
                let (resumed, welcome) = try await server.join("room=trickle&nick=slow&since=\(last)")
                #expect(welcome.history.first?.id == max(last + 1, Int64(total) - 999))
                #expect(welcome.history.last?.id == Int64(total))
                resumed.close()
            }
        }
    }

    @Test func aReaderThatPausesGetsEverythingOnceItReadsAgain() async throws {
        let total = 2500
        let text = String(repeating: "p", count: 4000)
        // Far more than the kernel's socket buffers hold, far less than the outbox limit: the socket fills,
        // the writer stops taking frames, and it must start again when the reader does.
        // The write timeout is far longer than the pause, however slow the machine.
        try await withServer(.set(\.ratePerSecond, 0), .set(\.maxOutboundBytes, 64 * 1024 * 1024), .set(\.writeTimeout, .seconds(3600))) {
            server in
            let paused = try await server.connect("room=pause&nick=paused", readAutomatically: false)
            let (writer, _) = try await server.join("room=pause&nick=writer")
            try await sendInBatches(total, of: text, from: writer, batch: 50, seenBy: [writer])
            _ = paused.channel.setOption(ChannelOptions.autoRead, value: true)
            paused.channel.read()
            var last: Int64 = 0
            while last < Int64(total) {
                let message = try await paused.nextMessage()
                #expect(message.id == last + 1)
                last = message.id
            }
            let metrics = try await server.http("GET", "/metrics")
            #expect(metrics.body.contains("parley_slow_consumers_closed_total 0"))
        }
    }

    @Test func aClientThatClosesWithoutReadingIsDroppedAfterTheCloseTimeout() async throws {
        try await withServer(.set(\.ratePerSecond, 0), .set(\.maxOutboundBytes, 64 * 1024 * 1024), .set(\.closeTimeout, .milliseconds(300))) {
            server in
            let (writer, _) = try await server.join("room=quitter&nick=writer")
            try await sendInBatches(200, of: String(repeating: "q", count: 1000), from: writer, batch: 200, seenBy: [writer])
            // About 20 MB of history replies that are never read, then the client's close: the server's
            // answer waits behind them, and the client gets `closeTimeout` to read them.
            let quitter = try await server.connect("room=quitter&nick=quitter", readAutomatically: false)
            for _ in 0..<100 {
                try await quitter.send(.history(before: nil, limit: 200))
            }
            try await quitter.sendClose()
            try await eventually(attempts: 400) {
                let metrics = try await server.http("GET", "/metrics")
                guard metrics.body.split(separator: "\n").contains("parley_connections 1.0") else {
                    throw RawSocket.Failure.unexpected("the quitter's socket is still open")
                }
            }
        }
    }

    /// Deterministic on any machine: the slow member reads nothing at all until the end, and every member
    /// that reads (the writer included) has read each batch of 20 (80 KB) before the next is sent, so none of
    /// them can ever have the 256 KB limit waiting, however slowly the test runs. The write timeout is far
    /// longer than the test, so the slow member still gets its close frame.
    @Test func aReaderThatStopsIsCutOffAndResumesLosslessly() async throws {
        let total = 2500
        let text = String(repeating: "z", count: 4000)
        try await withServer(
            timeout: .seconds(300),
            .set(\.ratePerSecond, 0),
            .set(\.maxOutboundBytes, 256 * 1024),
            .set(\.writeTimeout, .seconds(3600))
        ) { server in
            let slow = try await server.connect("room=slow&nick=slow", readAutomatically: false)
            let (fast, _) = try await server.join("room=slow&nick=fast")
            let (writer, _) = try await server.join("room=slow&nick=writer")
            // Every 20 messages the writer waits for the fast member and for its own echoes, so only the slow
            // one falls behind.
            try await sendInBatches(total, of: text, from: writer, batch: 20, seenBy: [fast, writer])
            // Now the slow member reads: what it got is contiguous, then close 1008.
            _ = slow.channel.setOption(ChannelOptions.autoRead, value: true)
            slow.channel.read()
            let (last, closeCode, reason) = try await readUntilClosed(slow)
            #expect(closeCode == nil || reason == "slow consumer")
            // The close went behind what the socket held, and the socket was kept until it was read.
            #expect(closeCode == 1008)
            #expect(last < Int64(total))
            // Resume: welcome brings the newest 1,000 after `last`; older ones come with `history`.
            let (resumed, welcome) = try await server.join("room=slow&nick=slow&since=\(last)")
            var recovered = welcome.history.map(\.id)
            #expect(welcome.truncated == (Int64(total) - last > 1000))
            while let first = recovered.first, first > last + 1 {
                try await resumed.send(.history(before: first, limit: 200))
                let older = try await resumed.next { event in
                    if case .history(let page, _) = event { return page.map(\.id) }
                    return nil
                }
                recovered = Array(older.filter { $0 > last }) + recovered
            }
            #expect(recovered == Array(last + 1...Int64(total)))
            resumed.close()
            let metrics = try await server.http("GET", "/metrics")
            #expect(metrics.body.contains("parley_slow_consumers_closed_total 1"))
        }
    }
}

/// Sends messages 1 to `total` (in a fresh room) from `writer`, `batch` at a time, and waits until each of
/// `readers` has each batch, so that only members that do not read fall behind.
private func sendInBatches(_ total: Int, of text: String, from writer: RawSocket, batch: Int, seenBy readers: [RawSocket]) async throws {
    for first in stride(from: 1, through: total, by: batch) {
        let ids = first..<min(first + batch, total + 1)
        for n in ids {
            try await writer.send(.message(text: text, clientID: "m\(n)"))
        }
        for reader in readers {
            for expected in ids {
                #expect(try await reader.nextMessage().id == Int64(expected))
            }
        }
    }
}

/// Reads a member's messages until the server closes its socket, checking that their ids follow one another
/// from `first + 1`; returns the last id and the close frame's code and reason.
private func readUntilClosed(_ socket: RawSocket, after first: Int64 = 0) async throws -> (last: Int64, code: UInt16?, reason: String) {
    var last = first
    do {
        while true {
            if case .message(let message) = try await socket.next() {
                #expect(message.id == last + 1)
                last = message.id
            }
        }
    } catch RawSocket.Failure.closed(let code, let reason) {
        return (last, code, reason)
    }
}
