import NIOCore
import NIOEmbedded
import NIOWebSocket
import ParleyProtocol
import Testing

@testable import ParleyServer

@Suite struct OutboxWriterTests {
    /// The outbox keeps the writer's way of asking for a later drain, and the writer keeps the outbox: once the
    /// outbox is finished (its socket is gone), neither may keep the other, or every closed connection stays in
    /// memory.
    @Test func aFinishedOutboxAndItsWriterAreFreed() throws {
        weak var outboxLeft: Outbox?
        weak var writerLeft: OutboxWriter?
        let channel = EmbeddedChannel()
        do {
            let outbox = Outbox(limit: 1000)
            let writer = OutboxWriter(outbox: outbox, channel: channel)
            writer.start()
            channel.embeddedEventLoop.run()
            (outboxLeft, writerLeft) = (outbox, writer)
            outbox.finish()
            channel.embeddedEventLoop.run()
        }
        #expect(outboxLeft == nil)
        #expect(writerLeft == nil)
        _ = try channel.finish()
    }

    /// Several queued frames go out as one buffer; a WebSocket client must read back the same frames, in
    /// order, whatever their length class and whether or not their header was written ahead of them.
    @Test func framesWrittenAsOneBufferDecodeAsTheSameFrames() throws {
        let ts = Timestamp(milliseconds: 1_795_000_000_000)
        let payloads = [
            EventEncoder.encode(ChatMessage(id: 1, nick: "a", text: "short", ts: ts, clientID: nil)),
            EventEncoder.encode(.typing(nick: "b")),
            EventEncoder.encode(ChatMessage(id: 2, nick: "a", text: String(repeating: "x", count: 300), ts: ts, clientID: "c1")),
            ByteBuffer(string: String(repeating: "y", count: 70_000)),
            EventEncoder.encode(ChatMessage(id: 3, nick: "a", text: String(repeating: "z", count: 66_000), ts: ts, clientID: nil)),
        ]
        let batch = OutboxWriter.concatenated(payloads, allocator: ByteBufferAllocator())
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        defer { _ = try? client.finish() }
        try client.writeInbound(batch)
        for payload in payloads {
            let frame = try #require(try client.readInbound(as: WebSocketFrame.self))
            #expect(frame.fin && frame.opcode == .text && frame.maskKey == nil)
            #expect(frame.unmaskedData == payload)
        }
        #expect(try client.readInbound(as: WebSocketFrame.self) == nil)
    }

    /// A pong waits in the outbox like an event; written alone or in a batch, a client reads a pong frame with
    /// the ping's payload.
    @Test func aPongFromTheOutboxDecodesAsAPongFrame() throws {
        let pong = OutboxWriter.pong(payload: ByteBuffer(string: "hi"), allocator: ByteBufferAllocator())
        #expect(pong.readableBytes == 2)
        let alone = try #require(OutboxWriter.framed(pong))
        let text = EventEncoder.encode(.typing(nick: "b"))
        #expect(OutboxWriter.framed(text) == nil)
        let batch = OutboxWriter.concatenated([text, pong], allocator: ByteBufferAllocator())
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        defer { _ = try? client.finish() }
        try client.writeInbound(alone)
        try client.writeInbound(batch)
        let first = try #require(try client.readInbound(as: WebSocketFrame.self))
        #expect(first.opcode == .pong && first.unmaskedData == ByteBuffer(string: "hi"))
        let typing = try #require(try client.readInbound(as: WebSocketFrame.self))
        #expect(typing.opcode == .text && typing.unmaskedData == text)
        let second = try #require(try client.readInbound(as: WebSocketFrame.self))
        #expect(second.opcode == .pong && second.unmaskedData == ByteBuffer(string: "hi"))
    }

    /// The writer frames pings and closes itself (no frame encoder on the socket): a client reads them as such,
    /// and a reason too long for a close frame loses whole characters from its end.
    @Test func pingsAndClosesDecodeAsControlFrames() throws {
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        defer { _ = try? client.finish() }
        let allocator = ByteBufferAllocator()
        try client.writeInbound(OutboxWriter.control(opcode: .ping, payload: ByteBuffer(), allocator: allocator))
        try client.writeInbound(OutboxWriter.close(code: 1008, reason: "slow consumer", allocator: allocator))
        let long = String(repeating: "é", count: 70)
        try client.writeInbound(OutboxWriter.close(code: 4000, reason: long, allocator: allocator))

        let ping = try #require(try client.readInbound(as: WebSocketFrame.self))
        #expect(ping.fin && ping.opcode == .ping && ping.unmaskedData.readableBytes == 0)
        var close = try #require(try client.readInbound(as: WebSocketFrame.self)).unmaskedData
        #expect(close.readInteger(as: UInt16.self) == 1008 && close.readString(length: close.readableBytes) == "slow consumer")
        let cut = try #require(try client.readInbound(as: WebSocketFrame.self))
        #expect(cut.opcode == .connectionClose && cut.unmaskedData.readableBytes == 124)
        var reason = cut.unmaskedData
        #expect(reason.readInteger(as: UInt16.self) == 4000 && reason.readString(length: reason.readableBytes) == String(repeating: "é", count: 61))
    }
}
