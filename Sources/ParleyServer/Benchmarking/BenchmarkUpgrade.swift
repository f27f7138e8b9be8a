import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOWebSocket

/// One WebSocket upgrade request answered on an embedded channel, the way ``ChatChannel`` answered it before
/// ``WebSocketHandshake`` (NIO's HTTP decoder, typed upgrader and response encoder) and the way it does now
/// (the head scanned in place, the `101` written whole, the frame codec added). The admission and the join,
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
        try channel.pipeline.syncOperations.addHandlers([
            WebSocketFrameEncoder(), ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 16)),
        ])
        channel.flush()
        return try response(channel)
    }

    private static func response(_ channel: EmbeddedChannel) throws -> String {
        var bytes = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        _ = try channel.finish()
        return String(buffer: bytes)
    }
}
