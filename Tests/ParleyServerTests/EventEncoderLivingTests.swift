import Foundation
import NIOCore
import ParleyProtocol
import Testing

@testable import ParleyServer

/// The hand-written encoding of the §11 fields, `update` and `welcome`'s `rev` and `updates` says what
/// `JSONEncoder` says.
@Suite struct EventEncoderLivingTests {
    @Test(arguments: EventEncoderTests.tricky)
    func livingFieldsMatchCodable(text: String) throws {
        let ts = Timestamp(milliseconds: 1_795_000_000_123)
        let messages = [
            ChatMessage(id: 3, nick: text, text: text, ts: ts, clientID: text, replyTo: 1, editedAt: ts),
            ChatMessage(id: 4, nick: "bob", text: "", ts: ts, replyTo: 3, deleted: true),
            ChatMessage(
                id: 5,
                nick: "bob",
                text: "x",
                ts: ts,
                reactions: [Reaction(emoji: "👩‍💻", nicks: [text, "bob"]), Reaction(emoji: text.isEmpty ? "+1" : text, nicks: ["c"])]
            ),
        ]
        var events: [ServerEvent] = messages.map { .update(rev: 9, message: $0) } + messages.map { .message($0) }
        events.append(.history(messages: messages, hasMore: false))
        events.append(
            .welcome(
                .init(
                    room: RoomInfo(code: "r", name: nil, createdAt: ts),
                    nick: "n",
                    session: "s",
                    members: ["n"],
                    history: messages,
                    lastID: 5,
                    truncated: false,
                    limits: Limits(),
                    rev: 9,
                    updates: messages,
                    updatesTruncated: true
                )
            )
        )
        for event in events {
            let fast = EventEncoder.encode(event)
            let codable = ByteBuffer(bytes: try JSONEncoder().encode(event))
            #expect(try Self.object(fast) == Self.object(codable))
            #expect(try JSONDecoder().decode(ServerEvent.self, from: Data(fast.readableBytesView)) == event)
        }
    }

    static func object(_ buffer: ByteBuffer) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? NSDictionary)
    }
}
