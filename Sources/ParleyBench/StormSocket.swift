import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

/// One storm connection as a single channel handler: the upgrade request written by hand, the `101` read,
/// then server frames parsed in place and each whole message handed to `onMessage` on the channel's event
/// loop. A storm dials 20,000 times; a general WebSocket client (HTTP codec, upgrader, async streams and a
/// task group per connection) made the generator, not the server, the storm's limit.
///
/// Plain `ws://` only. Frames the client sends are masked, as RFC 6455 requires.
final class StormSocket: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How a connection ended.
    enum End: Sendable, Equatable {
        /// Upgraded, then closed; the server's close frame, summarised, if one came.
        case closed(String?)
        /// Never upgraded, or broke the protocol.
        case failed(String)
    }

    private let request: String
    private let onMessage: (UnsafeRawBufferPointer, any Channel) -> Void
    private let ended: EventLoopPromise<End>
    private var pending = ByteBuffer()
    private var partial: ByteBuffer?
    private var upgraded = false
    private var closeSummary: String?
    private var problem: String?

    private init(request: String, ended: EventLoopPromise<End>, onMessage: @escaping (UnsafeRawBufferPointer, any Channel) -> Void) {
        self.request = request
        self.ended = ended
        self.onMessage = onMessage
    }

    /// Dials `url` (`ws://HOST:PORT/PATH?QUERY`), from `source` when given; returns the channel once connected
    /// and a future of how it ends. `onMessage` runs on the channel's event loop for every text or binary message.
    static func open(
        url: String,
        source: SocketAddress? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onMessage: @escaping @Sendable (UnsafeRawBufferPointer, any Channel) -> Void
    ) async throws -> (any Channel, EventLoopFuture<End>) {
        guard let target = Target(url) else { throw BenchError(kind: .usage, message: "storm mode dials ws:// only, not \(url)") }
        let loop = group.next()
        let ended = loop.makePromise(of: End.self)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = StormSocket(request: target.request, ended: ended, onMessage: onMessage)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        if let source { bootstrap = bootstrap.bind(to: source) }
        do {
            // An address literal skips the resolver and happy eyeballs, a large part of a dial's cost.
            let channel =
                if let address = try? SocketAddress(ipAddress: target.host, port: target.port) {
                    try await bootstrap.connect(to: address).get()
                } else {
                    try await bootstrap.connect(host: target.host, port: target.port).get()
                }
            return (channel, ended.futureResult)
        } catch {
            ended.fail(error)
            throw error
        }
    }

    /// Sends one text message (from any thread).
    static func send(_ text: String, on channel: any Channel) {
        channel.writeAndFlush(frame(opcode: 0x1, payload: Array(text.utf8), allocator: channel.allocator), promise: nil)
    }

    /// Sends a normal close and closes the socket without waiting for the server's answer.
    static func close(_ channel: any Channel) {
        channel.writeAndFlush(frame(opcode: 0x8, payload: [0x03, 0xE8], allocator: channel.allocator), promise: nil)
        channel.close(promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: request.utf8.count)
        buffer.writeString(request)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            pending.writeBuffer(&bytes)
        }
        if !upgraded {
            guard let headLength = pending.withUnsafeReadableBytes(Self.headLength) else {
                if pending.readableBytes > 16_384 { fail(context, "no end to the upgrade response") }
                return
            }
            let head = pending.readString(length: headLength) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else {
                fail(context, "upgrade refused: \(head.prefix { $0 != "\r" })")
                return
            }
            upgraded = true
        }
        while problem == nil, let frame = nextFrame() {
            handle(frame, context: context)
        }
        if pending.readableBytes == 0 { pending.clear() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let problem {
            ended.succeed(.failed(problem))
        } else {
            ended.succeed(upgraded ? .closed(closeSummary) : .failed("closed before the upgrade"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if problem == nil, !upgraded { problem = "\(error)" }
        context.close(promise: nil)
    }

    /// The length of an HTTP response head, its blank line included; `nil` until it is whole. A plain scan:
    /// the generic `firstRange(of:)` was among the storm's largest costs.
    private static func headLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
            return index + 1
        }
        return nil
    }

    private struct Frame {
        var fin: Bool
        var opcode: UInt8
        var payload: ByteBuffer
    }

    /// The next whole frame in `pending`, or `nil` until more bytes come (or after a protocol error).
    private func nextFrame() -> Frame? {
        let start = pending.readerIndex
        guard let first = pending.getInteger(at: start, as: UInt8.self), let second = pending.getInteger(at: start + 1, as: UInt8.self) else {
            return nil
        }
        var header = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let value = pending.getInteger(at: start + 2, as: UInt16.self) else { return nil }
            length = Int(value)
            header = 4
        } else if length == 127 {
            guard let value = pending.getInteger(at: start + 2, as: UInt64.self) else { return nil }
            guard value <= UInt64(BenchRunner.maxMessageBytes) else {
                problem = "a frame of \(value) bytes"
                return nil
            }
            length = Int(value)
            header = 10
        }
        guard second & 0x80 == 0 else {
            problem = "a masked frame from the server"
            return nil
        }
        guard length <= BenchRunner.maxMessageBytes else {
            problem = "a frame of \(length) bytes"
            return nil
        }
        guard pending.readableBytes >= header + length else { return nil }
        pending.moveReaderIndex(forwardBy: header)
        guard let payload = pending.readSlice(length: length) else { return nil }
        return Frame(fin: first & 0x80 != 0, opcode: first & 0x0F, payload: payload)
    }

    private func handle(_ frame: Frame, context: ChannelHandlerContext) {
        switch frame.opcode {
        case 0x1, 0x2:
            if frame.fin {
                partial = nil
                frame.payload.withUnsafeReadableBytes { onMessage($0, context.channel) }
            } else {
                partial = frame.payload
            }
        case 0x0:
            guard var buffer = partial else { return }
            var payload = frame.payload
            guard buffer.readableBytes + payload.readableBytes <= BenchRunner.maxMessageBytes else {
                problem = "a message over \(BenchRunner.maxMessageBytes) bytes"
                context.close(promise: nil)
                return
            }
            buffer.writeBuffer(&payload)
            if frame.fin {
                partial = nil
                buffer.withUnsafeReadableBytes { onMessage($0, context.channel) }
            } else {
                partial = buffer
            }
        case 0x8:
            var payload = frame.payload
            if let code = payload.readInteger(as: UInt16.self) {
                let reason = payload.readString(length: payload.readableBytes) ?? ""
                closeSummary = Self.summary(code: code, reason: reason)
            }
            Self.close(context.channel)
        case 0x9:
            context.writeAndFlush(
                wrapOutboundOut(Self.frame(opcode: 0xA, payload: Array(frame.payload.readableBytesView), allocator: context.channel.allocator)),
                promise: nil
            )
        default:
            break
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ message: String) {
        problem = message
        context.close(promise: nil)
    }

    /// A close code by name when NIO knows it, else its number, then the reason, as the other bench reports say it.
    static func summary(code: UInt16, reason: String) -> String {
        let name: String =
            switch WebSocketErrorCode(codeNumber: Int(code)) {
            case .unknown(let raw): String(raw)
            case let known: String(describing: known)
            }
        return reason.isEmpty ? name : "\(name) \(reason)"
    }

    /// A masked client frame (the key need not be secret here: nothing sits between the bench and the server).
    static func frame(opcode: UInt8, payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        var buffer = allocator.buffer(capacity: payload.count + 14)
        buffer.writeInteger(0x80 | opcode)
        if payload.count < 126 {
            buffer.writeInteger(UInt8(0x80 | payload.count))
        } else if payload.count <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(payload.count))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(payload.count))
        }
        buffer.writeBytes(key)
        for (index, byte) in payload.enumerated() { buffer.writeInteger(byte ^ key[index & 3]) }
        return buffer
    }

    /// Host, port and the upgrade request for a `ws://` URL.
    struct Target {
        var host: String
        var port: Int
        var request: String

        init?(_ url: String) {
            guard url.hasPrefix("ws://") else { return nil }
            let rest = url.dropFirst("ws://".count)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            let path = slash == rest.endIndex ? "/" : String(rest[slash...])
            var host = Substring(authority)
            var port = 80
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 }
            } else if let colon = authority.lastIndex(of: ":") {
                host = authority[..<colon]
                port = Int(authority[authority.index(after: colon)...]) ?? -1
            }
            guard !host.isEmpty, (1...65535).contains(port) else { return nil }
            self.host = String(host)
            self.port = port
            request =
                "GET \(path) HTTP/1.1\r\nHost: \(authority)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: c3Rvcm0tYmVuY2gta2V5MQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        }
    }
}

extension BenchPlan {
    /// The address a dial from source address `index` binds to (127.0.0.1 for 0); `nil` with only one.
    func sourceAddress(_ index: Int) -> SocketAddress? {
        guard sourceAddresses > 1 else { return nil }
        return try? SocketAddress(ipAddress: "127.0.0.\(1 + index % sourceAddresses)", port: 0)
    }
}
