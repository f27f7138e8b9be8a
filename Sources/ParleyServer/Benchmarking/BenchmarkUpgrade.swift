import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket

/// One WebSocket upgrade request answered on an embedded channel, the way ``ChatChannel`` answered it before
/// ``WebSocketHandshake`` (NIO's HTTP decoder, typed upgrader and response encoder) and the way it does now
/// (the head scanned in place, the `101` written whole, the ``FrameReader`` added). The admission and the join,
/// the same either way, are left out.
///
/// Micro benchmarks only (see ``BenchmarkHooks``).
@_spi(Benchmarks)
public enum BenchmarkUpgrade {
    /// A browser's request head.
    public static let browserHead = Array(
        ([
            "GET /ws?room=lobby&nick=ann HTTP/1.1", "Host: chat.example:8080", "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
            "Accept: */*", "Origin: http://chat.example:8080", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Connection: keep-alive, Upgrade", "Sec-WebSocket-Extensions: permessage-deflate", "Upgrade: websocket",
        ].joined(separator: "\r\n") + "\r\n\r\n").utf8
    )

    /// Through NIO's pipeline; returns the response.
    public static func throughNIO(_ head: [UInt8]) throws -> String {
        let channel = EmbeddedChannel()
        let upgrader = NIOTypedWebSocketServerUpgrader<Bool>(
            maxFrameSize: 1 << 16,
            enableAutomaticErrorHandling: false,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeSucceededFuture(true) }
        )
        var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Bool>(
            upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(false) }
            )
        )
        configuration.enablePipelining = false
        configuration.enableErrorHandling = false
        configuration.enableResponseHeaderValidation = false
        let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
        try channel.writeInbound(ByteBuffer(bytes: head))
        channel.embeddedEventLoop.run()
        // The embedded loop has run every callback, so the upgrade is decided and `wait` returns at once.
        guard try upgraded.wait() else { throw ChannelError.inappropriateOperationForState }
        return try response(channel)
    }

    /// The way ``WebSocketHandshake`` does it; returns the response.
    public static func inPlace(_ head: [UInt8]) throws -> String {
        let channel = EmbeddedChannel()
        let received = ByteBuffer(bytes: head)
        guard case .upgrade(let request) = received.withUnsafeReadableBytes({ UpgradeRequest.scan($0) }) else {
            throw ChannelError.inappropriateOperationForState
        }
        // The head the admission is handed, built as the handshake builds it.
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: request.target, headers: HTTPHeaders(request.fields))
        guard head.headers.first(name: "host") != nil else { throw ChannelError.inappropriateOperationForState }
        channel.write(WebSocketHandshake.response(key: request.key, allocator: channel.allocator), promise: nil)
        try channel.pipeline.syncOperations.addHandler(FrameReader(maxFrameSize: 1 << 16))
        channel.flush()
        return try response(channel)
    }

    /// `count` masked text frames of a JSON message, back to back, as one read from a client.
    public static func clientFrames(count: Int) -> ByteBuffer {
        let payload = Array(#"{"type":"message","text":"hello there","client_id":"c-0123456789abcdef"}"#.utf8)
        let mask: [UInt8] = [0x11, 0x22, 0x33, 0x44]
        var bytes = ByteBuffer()
        for _ in 0..<count {
            bytes.writeBytes([0x81, 0x80 | UInt8(payload.count)] + mask)
            bytes.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        }
        return bytes
    }

    /// Reads `bytes` into frames on an embedded channel, with NIO's `ByteToMessageHandler` around the frame
    /// decoder (as every upgraded socket did before ``FrameReader``) or with the reader; returns the frames read.
    public static func readFrames(_ bytes: ByteBuffer, withReader: Bool) throws -> Int {
        let reader: any ChannelHandler =
            withReader ? FrameReader(maxFrameSize: 1 << 16) : ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 16))
        let channel = EmbeddedChannel(handler: reader)
        try channel.writeInbound(bytes)
        var frames = 0
        while try channel.readInbound(as: WebSocketFrame.self) != nil { frames += 1 }
        _ = try channel.finish()
        return frames
    }

    private static func response(_ channel: EmbeddedChannel) throws -> String {
        var bytes = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        _ = try channel.finish()
        return String(buffer: bytes)
    }
}
