import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import ParleyProtocol
import Testing

@testable import ParleyServer

@Suite struct EventEncoderTests {
    static let tricky: [String] = [
        "plain",
        #"quotes " and \ backslash \" \\"#,
        "slash / and </script>",
        "new\nline\r\ttab\u{08}\u{0C}",
        String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7F}",
        "emoji 😀👍🏽 family 👨‍👩‍👧",
        "non-BMP 𝄞 𐍈 \u{10FFFF}",
        "separators \u{2028} \u{2029} bom \u{FEFF} nul \u{0} end",
        "é vs e\u{301}",
        "",
    ]

    /// The hand-written `message` event says exactly what `JSONEncoder` says: the same object, and every string
    /// escaped the same way.
    @Test(arguments: tricky)
    func messageMatchesCodable(text: String) throws {
        for message in [
            ChatMessage(id: 1, nick: "alice", text: text, ts: Timestamp(milliseconds: 1_795_000_000_123), clientID: nil),
            ChatMessage(id: Int64.max, nick: text, text: "x", ts: Timestamp(milliseconds: 0), clientID: text),
        ] {
            let fast = EventEncoder.encode(message)
            let codable = try Self.codable(.message(message))
            #expect(try Self.object(fast) == Self.object(codable))
            #expect(try JSONDecoder().decode(ServerEvent.self, from: Data(fast.readableBytesView)) == .message(message))
            // The same escapes, byte for byte, for every string in it.
            let escaped = try JSONEncoder.plain.encode(text)
            #expect(String(buffer: fast).contains(String(decoding: escaped, as: UTF8.self)))
        }
    }

    /// Attachments (§14), with and without an image's size, come out as `JSONEncoder` writes them.
    @Test(arguments: tricky)
    func attachmentsMatchCodable(text: String) throws {
        let files = [
            Attachment(
                id: String(repeating: "a", count: 32),
                name: text.isEmpty ? "x" : text,
                type: "image/png",
                size: 1234,
                width: 640,
                height: 480
            ),
            Attachment(id: String(repeating: "b", count: 32), name: "report.pdf", type: "application/pdf", size: Int64(Int32.max) + 1),
        ]
        let message = ChatMessage(id: 3, nick: "ann", text: text, ts: Timestamp(milliseconds: 1_795_000_000_123), attachments: files)
        let fast = EventEncoder.encode(message)
        #expect(try Self.object(fast) == Self.object(try Self.codable(.message(message))))
        #expect(try JSONDecoder().decode(ServerEvent.self, from: Data(fast.readableBytesView)) == .message(message))
    }

    /// `welcome`, `history`, `join` and `leave`, also written by hand, say what `JSONEncoder` says too.
    @Test(arguments: tricky)
    func otherHandWrittenEventsMatchCodable(text: String) throws {
        let ts = Timestamp(milliseconds: 1_795_000_000_123)
        let history = [
            ChatMessage(id: 7, nick: text, text: text, ts: ts, clientID: text),
            ChatMessage(id: 8, nick: "bob", text: "plain", ts: Timestamp(milliseconds: 0), clientID: nil),
        ]
        let events: [ServerEvent] = [
            .welcome(
                .init(
                    room: RoomInfo(code: "room-1", name: text, createdAt: ts),
                    nick: text,
                    session: "0123456789",
                    members: [text, "bob"],
                    history: history,
                    lastID: 8,
                    truncated: true,
                    limits: Limits()
                )
            ),
            .welcome(
                .init(
                    room: RoomInfo(code: text, name: nil, createdAt: ts),
                    nick: "a",
                    session: text,
                    members: [],
                    history: [],
                    lastID: 0,
                    truncated: false,
                    limits: Limits(maxMessageBytes: 1, maxFileBytes: Int(Int32.max) + 1, rateBurst: 1, ratePerSecond: 0.25)
                )
            ),
            .welcome(
                .init(
                    room: RoomInfo(code: "a", name: nil, createdAt: ts),
                    nick: "a",
                    session: "s",
                    members: ["a"],
                    history: [],
                    lastID: 0,
                    truncated: false
                )
            ),
            .history(messages: history, hasMore: true),
            .history(messages: [], hasMore: false),
            .join(nick: text, ts: ts),
            .leave(nick: text, ts: ts),
        ]
        for event in events {
            let fast = EventEncoder.encode(event)
            #expect(WebSocketTextHeader.framed(fast) != nil)
            #expect(try Self.object(fast) == Self.object(Self.codable(event)))
            #expect(try JSONDecoder().decode(ServerEvent.self, from: Data(fast.readableBytesView)) == event)
        }
    }

    /// The header written in front of a payload is the one a WebSocket client decodes, at each boundary of
    /// the three length forms, and the writer recognises it.
    @Test(arguments: [0, 125, 126, 65_535, 65_536])
    func prependedHeadersDecodeAtEveryLengthBoundary(length: Int) throws {
        var buffer = ByteBufferAllocator().buffer(capacity: WebSocketTextHeader.maxSize + length)
        buffer.moveWriterIndex(forwardBy: WebSocketTextHeader.maxSize)
        buffer.moveReaderIndex(forwardBy: WebSocketTextHeader.maxSize)
        buffer.writeRepeatingByte(UInt8(ascii: "x"), count: length)
        let payload = buffer
        WebSocketTextHeader.prepend(to: &buffer)
        let framed = try #require(WebSocketTextHeader.framed(buffer))
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        defer { _ = try? client.finish() }
        try client.writeInbound(framed)
        let frame = try #require(try client.readInbound(as: WebSocketFrame.self))
        #expect(frame.fin && frame.opcode == .text && frame.unmaskedData == payload)
        #expect(try client.readInbound(as: WebSocketFrame.self) == nil)
    }

    @Test func welcomeCarriesTheLimits() throws {
        let welcome = ServerEvent.Welcome(
            room: RoomInfo(code: "a", name: nil, createdAt: Timestamp(milliseconds: 0)),
            nick: "a",
            session: "s",
            members: ["a"],
            history: [],
            lastID: 0,
            truncated: false,
            limits: Limits(maxMessageBytes: 4096, maxFileBytes: 10_485_760, rateBurst: 20, ratePerSecond: 5)
        )
        let limits = try #require(try Self.object(EventEncoder.encode(.welcome(welcome)))["limits"] as? NSDictionary)
        #expect(limits == ["max_message_bytes": 4096, "max_file_bytes": 10_485_760, "rate_burst": 20, "rate_per_second": 5])
    }

    @Test func keysInContractOrder() {
        let message = ChatMessage(id: 43, nick: "alice", text: "hi bob", ts: Timestamp("2026-11-22T10:00:03.412Z")!, clientID: "a-1")
        #expect(
            String(buffer: EventEncoder.encode(message))
                == #"{"type":"message","id":43,"nick":"alice","text":"hi bob","ts":"2026-11-22T10:00:03.412Z","client_id":"a-1"}"#
        )
    }

    @Test(arguments: [
        Int64(0), 1, 999, 1000, 59_999, 86_399_999, 86_400_000, 951_782_400_000, 1_795_000_000_123, 4_102_444_800_000,
        253_402_300_799_999, 253_402_300_800_000, -1, -86_400_001, -62_167_219_200_001, Int64.min, Int64.max,
    ])
    func timestampsMatchDescription(milliseconds: Int64) {
        var buffer = ByteBuffer()
        buffer.writeTimestamp(Timestamp(milliseconds: milliseconds))
        #expect(String(buffer: buffer) == Timestamp(milliseconds: milliseconds).description)
    }

    @Test func everyDayOfFourCenturies() {
        // Leap years, century rules and month ends, one day apart.
        var buffer = ByteBuffer()
        for day in stride(from: Int64(-1000), to: 146_097 + 11_000, by: 1) {
            let ts = Timestamp(milliseconds: day * 86_400_000 + 45_296_789)
            buffer.clear()
            buffer.writeTimestamp(ts)
            if String(buffer: buffer) != ts.description {
                Issue.record("\(String(buffer: buffer)) != \(ts.description)")
                return
            }
        }
    }

    static func codable(_ event: ServerEvent) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder.plain.encode(event))
    }

    static func object(_ buffer: ByteBuffer) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? NSDictionary)
    }
}

extension JSONEncoder {
    fileprivate static var plain: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }
}
