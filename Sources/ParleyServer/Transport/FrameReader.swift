import NIOCore
import NIOWebSocket

/// Reads an upgraded socket's bytes into WebSocket frames with NIO's `WebSocketFrameDecoder`, for the
/// ``ChatSocketHandler`` behind it.
///
/// NIO's `ByteToMessageHandler` would do the same, but every idle member kept what it carries for any decoder:
/// two ring buffers (one for bytes, one for writes arriving while it decodes), an empty buffer of its own and
/// the handler object, about 370 bytes more than this reader (docs/ARCHITECTURE.md, "Memory per connection").
/// A WebSocket decoder needs none of that: it never writes, and has nothing to say at the end of the stream. The
/// reader keeps only the bytes of an unfinished frame, and nothing between frames.
final class FrameReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = WebSocketFrame

    private let decoder: WebSocketFrameDecoder
    /// The bytes of a frame not yet complete; nil between frames.
    private var unfinished: ByteBuffer?
    /// Set while the decoder runs: bytes read meanwhile (if a frame's handler made the channel read) are
    /// appended, and the running loop decodes them.
    private var decoding = false
    /// After a frame the decoder refused, nothing more can be read: the frames after it cannot be found.
    private var refused = false

    /// Whether bytes of an unfinished frame are kept (for the tests: nothing is kept between frames).
    var holdsBytes: Bool { unfinished != nil }

    init(maxFrameSize: Int) {
        self.decoder = WebSocketFrameDecoder(maxFrameSize: maxFrameSize)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        var bytes = unwrapInboundIn(data)
        if unfinished == nil {
            unfinished = bytes
        } else {
            unfinished!.writeBuffer(&bytes)
        }
        guard !decoding else { return }
        decoding = true
        defer { decoding = false }
        while var buffer = unfinished, buffer.readableBytes > 0, !refused {
            // The decoder gets the buffer on its own, so that it is not shared while it reads (no copy).
            unfinished = nil
            let state: DecodingState
            do {
                state = try decoder.decode(context: context, buffer: &buffer)
            } catch {
                refused = true
                unfinished = nil
                // The socket's handler answers with a close; no more is read.
                try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                context.fireErrorCaught(error)
                return
            }
            // Bytes that arrived while a frame was being handled go behind what is left.
            if var arrived = unfinished {
                buffer.writeBuffer(&arrived)
            }
            unfinished = buffer
            if state == .needMoreData { break }
        }
        if let buffer = unfinished, buffer.readableBytes == 0 {
            unfinished = nil
        } else if unfinished != nil, unfinished!.readerIndex > 4096 {
            unfinished!.discardReadBytes()
        }
    }
}
