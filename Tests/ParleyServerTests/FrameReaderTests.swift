import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import ParleyServer

@Suite struct FrameReaderTests {
    /// Masked frames as a client sends them: a text frame, a ping, and a text frame long enough for a 16-bit
    /// length.
    static let frames: [(WebSocketOpcode, [UInt8])] = [
        (.text, Array(#"{"type":"message","text":"hi"}"#.utf8)),
        (.ping, Array("p".utf8)),
        (.text, Array(repeating: UInt8(ascii: "x"), count: 300)),
    ]

    static func wire() throws -> [UInt8] {
        var bytes: [UInt8] = []
        for (opcode, payload) in frames {
            var buffer = ByteBuffer()
            let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: [1, 2, 3, 4], data: ByteBuffer(bytes: payload))
            let encoder = EmbeddedChannel(handler: WebSocketFrameEncoder())
            try encoder.writeOutbound(frame)
            while let part = try encoder.readOutbound(as: ByteBuffer.self) { buffer.writeImmutableBuffer(part) }
            _ = try encoder.finish()
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    /// However the bytes are cut, the same frames come out, in order, and nothing is kept between frames.
    @Test func framesComeOutWhateverTheCuts() throws {
        let wire = try Self.wire()
        for cut in [1, 2, 3, 7, 64, wire.count] {
            let reader = FrameReader(maxFrameSize: 1 << 16)
            let channel = EmbeddedChannel(handler: reader)
            defer { _ = try? channel.finish() }
            var offset = 0
            while offset < wire.count {
                let end = min(offset + cut, wire.count)
                try channel.writeInbound(ByteBuffer(bytes: wire[offset..<end]))
                offset = end
            }
            for (opcode, payload) in Self.frames {
                let frame = try #require(try channel.readInbound(as: WebSocketFrame.self), "cut \(cut)")
                #expect(frame.fin && frame.opcode == opcode && Array(frame.unmaskedData.readableBytesView) == payload)
            }
            #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
            #expect(!reader.holdsBytes)
        }
    }

    /// Bytes that arrive while a frame is being handled (here: the handler behind the reader makes the channel
    /// read them) go behind what is left, in order.
    @Test func bytesReadWhileAFrameIsHandledKeepTheirPlace() throws {
        let wire = try Self.wire()
        // The first frame and half of the second arrive first; the rest is read while the first is handled.
        let split = 40
        final class ReadsMore: ChannelInboundHandler {
            typealias InboundIn = WebSocketFrame
            var rest: ByteBuffer?
            var frames: [WebSocketFrame] = []
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                frames.append(unwrapInboundIn(data))
                if let rest {
                    self.rest = nil
                    context.pipeline.fireChannelRead(NIOAny(rest))
                }
            }
        }
        let reader = FrameReader(maxFrameSize: 1 << 16)
        let tail = ReadsMore()
        tail.rest = ByteBuffer(bytes: wire[split...])
        let channel = EmbeddedChannel(handlers: [reader, tail])
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(bytes: wire[..<split]))
        #expect(tail.frames.map(\.opcode) == Self.frames.map(\.0))
        #expect(tail.frames.map { Array($0.unmaskedData.readableBytesView) } == Self.frames.map(\.1))
        #expect(!reader.holdsBytes)
    }

    /// A frame over the limit is refused once, and the bytes after it are dropped.
    @Test func aRefusedFrameStopsTheReading() throws {
        let channel = EmbeddedChannel(handler: FrameReader(maxFrameSize: 100))
        defer { _ = try? channel.finish() }
        var oversize = ByteBuffer(bytes: [0x81, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4])
        oversize.writeRepeatingByte(0x61, count: 256)
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try channel.writeInbound(oversize) }
        try channel.writeInbound(ByteBuffer(bytes: try Self.wire()))
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
    }
}
