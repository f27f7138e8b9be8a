import Foundation
import NIOCore
import NIOPosix
import ParleyProtocol

/// A WebSocket client written at the byte level, so tests control every frame: fragments, binary,
/// bad UTF-8, unanswered pings, and a peer that stops reading.
public final class RawSocket: Sendable {
    public struct Frame: Sendable {
        public var fin: Bool
        public var opcode: UInt8
        public var payload: [UInt8]

        public var text: String { String(decoding: payload, as: UTF8.self) }
        /// The close code of a close frame.
        public var closeCode: UInt16? {
            guard opcode == 0x8, payload.count >= 2 else { return nil }
            return UInt16(payload[0]) << 8 | UInt16(payload[1])
        }
        public var closeReason: String { String(decoding: payload.dropFirst(2), as: UTF8.self) }
    }

    /// A refused upgrade: the HTTP status and body.
    public struct Refused: Error {
        public var status: Int
        public var body: String
    }

    public enum Failure: Error {
        case closed(code: UInt16?, reason: String)
        case unexpected(String)
    }

    public let channel: any Channel
    private let inbox: Inbox
    /// Answer pings automatically (like a browser).
    public let answerPings: Bool

    private init(channel: any Channel, inbox: Inbox, answerPings: Bool) {
        self.channel = channel
        self.inbox = inbox
        self.answerPings = answerPings
    }

    /// Opens `path` on 127.0.0.1:`port` and completes the upgrade, or throws ``Refused``.
    public static func connect(
        port: Int,
        path: String,
        headers: [(String, String)] = [],
        answerPings: Bool = true,
        readAutomatically: Bool = true
    ) async throws -> RawSocket {
        try await open(
            port: port,
            writes: [upgradeRequest(port: port, path: path, headers: headers)],
            answerPings: answerPings,
            readAutomatically: readAutomatically
        )
    }

    /// The upgrade request ``connect(port:path:headers:answerPings:readAutomatically:)`` sends, with `headers` after
    /// the upgrade's own.
    public static func upgradeRequest(port: Int, path: String, headers: [(String, String)] = []) -> [UInt8] {
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        return Array((request + "\r\n").utf8)
    }

    /// Sends `writes` to 127.0.0.1:`port`, each flushed on its own after the previous one was written, and expects
    /// them to make an upgrade request: the socket once it is upgraded, or ``Refused``.
    public static func open(
        port: Int,
        writes: [[UInt8]],
        answerPings: Bool = true,
        readAutomatically: Bool = true
    ) async throws -> RawSocket {
        let inbox = Inbox()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if !readAutomatically {
            // A client that stops reading must fill its buffers soon: with the kernel's receive-buffer
            // autotuning (up to 32 MB here) megabytes could vanish into them first.
            bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: 64 * 1024)
        }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        for bytes in writes { try await channel.writeAndFlush(ByteBuffer(bytes: bytes)) }
        let (status, body) = try await inbox.readHTTPResponse()
        guard status == 101 else {
            try? await channel.close()
            throw Refused(status: status, body: body)
        }
        if !readAutomatically { try await channel.setOption(ChannelOptions.autoRead, value: false).get() }
        return RawSocket(channel: channel, inbox: inbox, answerPings: answerPings)
    }

    /// Sends raw request bytes and reads one HTTP response.
    public static func exchange(port: Int, request: [UInt8]) async throws -> (Int, String) {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        defer { channel.close(promise: nil) }
        try await channel.writeAndFlush(ByteBuffer(bytes: request))
        return try await inbox.readHTTPResponse()
    }

    // MARK: sending

    public func send(opcode: UInt8, _ payload: [UInt8], fin: Bool = true) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: Self.frame(opcode: opcode, payload, fin: fin)))
    }

    /// Sends `payload` as one text message in `count` fragments (all but the last of equal size), in one write.
    public func send(fragments count: Int, of payload: [UInt8]) async throws {
        precondition(count > 0 && payload.count >= count)
        let size = payload.count / count
        var bytes: [UInt8] = []
        for index in 0..<count {
            let end = index == count - 1 ? payload.count : (index + 1) * size
            bytes += Self.frame(opcode: index == 0 ? 0x1 : 0x0, Array(payload[index * size..<end]), fin: index == count - 1)
        }
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// A frame as a client sends it, masked.
    public static func frame(opcode: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        switch payload.count {
        case ..<126: frame.append(0x80 | UInt8(payload.count))
        case ..<65536: frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default:
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xff)) }
        }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    public func send(_ text: String) async throws {
        try await send(opcode: 0x1, Array(text.utf8))
    }

    public func send(_ command: ClientCommand) async throws {
        try await send(command.json)
    }

    /// Sends `count` messages `m1`, `m2`, … and waits for their echoes, so all are stored.
    public func sendConfirmed(_ count: Int) async throws {
        for n in 1...count { try await send("m\(n)") }
        for _ in 1...count { _ = try await nextMessage() }
    }

    public func sendClose(code: UInt16 = 1000) async throws {
        try await send(opcode: 0x8, [UInt8(code >> 8), UInt8(code & 0xff)])
    }

    public func close() {
        channel.close(promise: nil)
    }

    // MARK: receiving

    /// The next frame; answers pings when asked to. Throws `.closed` when the socket ends.
    public func nextFrame() async throws -> Frame {
        while true {
            let frame = try await inbox.nextFrame()
            if frame.opcode == 0x9, answerPings {
                try? await send(opcode: 0xA, frame.payload)
                continue
            }
            return frame
        }
    }

    /// The next event; ping/pong frames are skipped, a close frame throws `.closed`.
    public func next() async throws -> ServerEvent {
        while true {
            let frame = try await nextFrame()
            switch frame.opcode {
            case 0x1: return try JSONDecoder().decode(ServerEvent.self, from: Data(frame.payload))
            case 0x8: throw Failure.closed(code: frame.closeCode, reason: frame.closeReason)
            case 0x9, 0xA: continue
            default: throw Failure.unexpected("frame opcode \(frame.opcode)")
            }
        }
    }

    /// The next event that `match` accepts, skipping others.
    public func next<T>(_ match: (ServerEvent) -> T?) async throws -> T {
        while true {
            if let value = match(try await next()) { return value }
        }
    }

    /// Waits for the close frame (skipping events) and returns its code.
    public func closeCode() async throws -> UInt16? {
        while true {
            let frame: Frame
            do {
                frame = try await nextFrame()
            } catch Failure.closed(let code, _) {
                return code
            }
            if frame.opcode == 0x8 { return frame.closeCode }
        }
    }

    /// The welcome event, which must come first.
    public func welcome() async throws -> ServerEvent.Welcome {
        guard case .welcome(let welcome) = try await next() else { throw Failure.unexpected("first event was not welcome") }
        return welcome
    }

    /// The next `message` event.
    public func nextMessage() async throws -> ChatMessage {
        try await next { event in
            if case .message(let message) = event { return message }
            return nil
        }
    }

    /// The next `error` event's code.
    public func nextError() async throws -> ErrorCode {
        try await next { event in
            if case .error(let code, _, _) = event { return code }
            return nil
        }
    }

    /// A frame arriving within `window`, or nil: for checking that something is NOT sent. Answers pings like
    /// ``nextFrame()``; a frame that comes as the window ends stays for the next read.
    public func frame(within window: Duration) async throws -> Frame? {
        let deadline = ContinuousClock.now + window
        while let frame = try await inbox.nextFrame(until: deadline) {
            if frame.opcode == 0x9, answerPings {
                try? await send(opcode: 0xA, frame.payload)
                continue
            }
            return frame
        }
        return nil
    }
}

/// The refusal `connect` ended with.
public func refused(_ connect: () async throws -> RawSocket) async throws -> RawSocket.Refused {
    do {
        let socket = try await connect()
        socket.close()
    } catch let refusal as RawSocket.Refused {
        return refusal
    }
    throw RawSocket.Failure.unexpected("the upgrade was accepted")
}
