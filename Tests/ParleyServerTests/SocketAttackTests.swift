import NIOCore
import NIOWebSocket
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

/// Clients that try to make the server hold bytes for them without bound, over real sockets.
@Suite struct SocketAttackTests {
    /// A client that sends pings as fast as it can and reads nothing: every pong it is owed would stay in the
    /// server. It must be dropped once its socket has taken nothing for the write timeout. (Pings with the
    /// largest payload fill the socket's buffers soonest; empty ones only take longer.)
    @Test func aPingFloodThatNeverReadsIsDropped() async throws {
        try await withServer(.set(\.writeTimeout, .seconds(1))) { server in
            let flooder = try await server.connect("room=flood&nick=flooder", readAutomatically: false)
            let pings = Self.maskedPings(count: 1000, payload: Array(repeating: 0x70, count: 125))
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    // At most 64 MB of pings; a write fails once the server has dropped the socket.
                    do {
                        for _ in 0..<(64 << 20) / pings.readableBytes {
                            try await flooder.channel.writeAndFlush(pings)
                        }
                    } catch {
                        // The server dropped the socket: what the other task waits to see.
                    }
                    return false
                }
                group.addTask {
                    try await eventually(attempts: 300) {
                        let metrics = try await server.http("GET", "/metrics")
                        guard metrics.body.split(separator: "\n").contains("parley_connections 0.0") else {
                            throw RawSocket.Failure.unexpected("the flooder is still connected")
                        }
                    }
                    return true
                }
                while let dropped = try await group.next(), !dropped {}
                group.cancelAll()
            }
            flooder.close()
        }
    }

    /// Pongs are owed only while the socket takes bytes: of the pings sent by a client that did not read, only
    /// what fits in the socket's buffers is answered, and a later command is still answered in order.
    @Test func pongsOwedToAClientThatDoesNotReadStayBounded() async throws {
        try await withServer(.set(\.writeTimeout, .seconds(60))) { server in
            let client = try await server.connect("room=pongs&nick=client", readAutomatically: false)
            // Read `welcome` whole, so that the frames counted below start on a frame boundary.
            _ = client.channel.setOption(ChannelOptions.autoRead, value: true)
            _ = try await client.welcome()
            try await client.channel.setOption(ChannelOptions.autoRead, value: false).get()
            let pings = Self.maskedPings(count: 1000, payload: Array(repeating: 0x70, count: 125))
            let flood = 32 << 20
            for _ in 0..<flood / pings.readableBytes {
                try await client.channel.writeAndFlush(pings)
            }
            try await client.send(.ping)
            // Now read: count the pongs that arrive before the answer to the `ping` command.
            let counter = PongCounter(promise: client.channel.eventLoop.makePromise())
            try await client.channel.eventLoop.submit {
                try client.channel.pipeline.syncOperations.addHandlers(
                    [ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)), counter],
                    position: .first
                )
            }.get()
            try await client.channel.setOption(ChannelOptions.autoRead, value: true).get()
            client.channel.read()
            try await counter.promise.futureResult.get()
            let owed = counter.pongs.load(ordering: .relaxed) * 127
            // What the socket's buffers hold bounds it: NIO's 64 KiB and the kernel's (several MB on loopback,
            // both sides together). Answering every ping would have been 32 MB.
            #expect(owed < flood / 2, "\(owed) bytes of pongs")
            client.close()
        }
    }

    /// A client that never reads while messages wait for it is dropped after the write timeout: no close
    /// frame can reach it. It resumes with `since` and loses nothing.
    @Test func aClientThatNeverReadsIsDroppedAfterTheWriteTimeout() async throws {
        try await withServer(.set(\.ratePerSecond, 0), .set(\.maxOutboundBytes, 64 << 20), .set(\.writeTimeout, .seconds(1))) { server in
            let stuck = try await server.connect("room=stuck&nick=stuck", readAutomatically: false)
            let (writer, _) = try await server.join("room=stuck&nick=writer")
            // About 8 MB: far more than the socket buffers hold, far less than the outbox limit.
            let text = String(repeating: "s", count: 4000)
            for first in stride(from: 1, through: 2000, by: 100) {
                for n in first..<first + 100 { try await writer.send(.message(text: text, clientID: "s\(n)")) }
                for _ in first..<first + 100 { _ = try await writer.nextMessage() }
            }
            try await eventually(attempts: 300) {
                let metrics = try await server.http("GET", "/metrics")
                guard metrics.body.split(separator: "\n").contains("parley_connections 1.0") else {
                    throw RawSocket.Failure.unexpected("the stuck socket is still open")
                }
            }
            stuck.close()
            let (resumed, welcome) = try await server.join("room=stuck&nick=stuck&since=1000")
            #expect(welcome.history.map(\.id) == Array(1001...2000))
            resumed.close()
            let metrics = try await server.http("GET", "/metrics")
            #expect(metrics.body.contains("parley_slow_consumers_closed_total 0"))
        }
    }

    /// `count` masked ping frames with `payload`, back to back, as a client sends them.
    static func maskedPings(count: Int, payload: [UInt8]) -> ByteBuffer {
        let frame = RawSocket.frame(opcode: 0x9, payload)
        var buffer = ByteBuffer()
        for _ in 0..<count { buffer.writeBytes(frame) }
        return buffer
    }
}

/// Counts pong frames, and completes its promise on the first text frame that is a `pong` event.
private final class PongCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    let pongs = Atomic<Int>(0)
    let promise: EventLoopPromise<Void>
    private let completed = Atomic<Bool>(false)

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .pong:
            pongs.add(1, ordering: .relaxed)
        case .text:
            if String(buffer: frame.unmaskedData).contains(#""type":"pong""#), complete() { promise.succeed() }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if complete() { promise.fail(RawSocket.Failure.closed(code: nil, reason: "connection ended")) }
    }

    /// True the first time only.
    private func complete() -> Bool {
        completed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }
}
