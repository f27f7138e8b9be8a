import NIOCore
import ParleyProtocol
import Testing

@testable import ParleyServer

/// A live room's cache of encoded recent messages answers a `welcome` only when its answer is exactly
/// storage's; otherwise it says so (nil) and storage answers.
@Suite struct RecentMessagesTests {
    static func message(_ id: Int64, _ text: String = "") -> ChatMessage {
        ChatMessage(id: id, nick: "n", text: text.isEmpty ? "m\(id)" : text, ts: Timestamp(milliseconds: 0), clientID: nil)
    }

    static func fields(_ message: ChatMessage) -> ByteBuffer {
        EventEncoder.fields(ofMessage: EventEncoder.encode(message))
    }

    static func seed(_ ids: ClosedRange<Int64>) -> [(id: Int64, fields: ByteBuffer)] {
        ids.map { (id: $0, fields: fields(message($0))) }
    }

    static func texts(_ page: RecentMessages.Page?) -> [String]? {
        page?.history.map { String(buffer: $0) }
    }

    /// What the history array would hold for `ids`, as storage's messages encode.
    static func expected(_ ids: ClosedRange<Int64>) -> [String] {
        ids.map { String(buffer: fields(message($0))) }
    }

    @Test func slicesAreTheFieldsEveryEncoderWrites() {
        var message = Self.message(7, "héllo \"there\"")
        message.reactions = [Reaction(emoji: "👍", nicks: ["a"])]
        var array = ByteBuffer()
        array.writeJSONArray(of: [message])
        let fromMessage = EventEncoder.fields(ofMessage: EventEncoder.encode(message))
        #expect("[{" + String(buffer: fromMessage) + "}]" == String(buffer: array))
        for rev: Int64 in [0, 9, 10, 12_345_678_901] {
            let update = EventEncoder.encode(.update(rev: rev, message: message))
            #expect(EventEncoder.fields(ofUpdate: update, rev: rev) == fromMessage)
        }
    }

    @Test func aWelcomeFromEncodedHistoryIsTheSameBytes() {
        let messages = (1...3).map { Self.message(Int64($0)) }
        var welcome = ServerEvent.Welcome(
            room: RoomInfo(code: "r", name: nil, createdAt: Timestamp(milliseconds: 0)),
            nick: "n",
            session: "s",
            members: ["n"],
            history: messages,
            lastID: 3,
            truncated: false
        )
        let plain = EventEncoder.encode(welcome)
        welcome.history = []
        let encoded = EventEncoder.encode(welcome, encodedHistory: messages.map(Self.fields))
        #expect(plain == encoded)
    }

    @Test func answersNothingUntilSeeded() {
        let recent = RecentMessages(bounds: .init(count: 10, bytes: 1 << 20))
        #expect(recent.page(after: nil, clientRev: nil, limit: 5) == nil)
        var none = RecentMessages(bounds: .none)
        none.seed(Self.seed(1...3), floor: 0, lastID: 3, rev: 0)
        #expect(none.page(after: nil, clientRev: nil, limit: 5) == nil, "a room that keeps nothing never answers")
    }

    @Test func aWholeRoomAnswersEveryRequest() {
        var recent = RecentMessages(bounds: .init(count: 10, bytes: 1 << 20))
        recent.seed(Self.seed(1...3), floor: 0, lastID: 3, rev: 2)
        let all = recent.page(after: nil, clientRev: nil, limit: 5)
        #expect(Self.texts(all) == Self.expected(1...3) && all?.hasMore == false && all?.lastID == 3 && all?.rev == 2)
        let newest = recent.page(after: nil, clientRev: nil, limit: 2)
        #expect(Self.texts(newest) == Self.expected(2...3) && newest?.hasMore == true)
        #expect(Self.texts(recent.page(after: 1, clientRev: nil, limit: 5)) == Self.expected(2...3))
        let beyond = recent.page(after: 9, clientRev: nil, limit: 5)
        #expect(beyond?.history.isEmpty == true && beyond?.lastID == 3 && beyond?.hasMore == false)
        recent.delivered(id: 4, fields: Self.fields(Self.message(4)))
        #expect(Self.texts(recent.page(after: 2, clientRev: 2, limit: 5)) == Self.expected(3...4))
    }

    @Test func belowTheFloorStorageAnswers() {
        var recent = RecentMessages(bounds: .init(count: 10, bytes: 1 << 20))
        // The newest three of a longer room: 5...7, floor 4.
        recent.seed(Self.seed(5...7), floor: 4, lastID: 7, rev: 0)
        #expect(recent.page(after: 3, clientRev: nil, limit: 10) == nil)
        #expect(Self.texts(recent.page(after: 4, clientRev: nil, limit: 10)) == Self.expected(5...7))
        // Without `since`: whether older messages exist is unknown unless the page is full.
        #expect(recent.page(after: nil, clientRev: nil, limit: 3) == nil)
        let two = recent.page(after: nil, clientRev: nil, limit: 2)
        #expect(Self.texts(two) == Self.expected(6...7) && two?.hasMore == true)
    }

    @Test func boundsDropTheOldestAndRaiseTheFloor() {
        var recent = RecentMessages(bounds: .init(count: 3, bytes: 1 << 20))
        recent.seed(Self.seed(1...2), floor: 0, lastID: 2, rev: 0)
        for id: Int64 in 3...5 { recent.delivered(id: id, fields: Self.fields(Self.message(id))) }
        #expect(recent.count == 3 && recent.floor == 2 && recent.last == 5)
        #expect(recent.page(after: 1, clientRev: nil, limit: 10) == nil)
        #expect(Self.texts(recent.page(after: 2, clientRev: nil, limit: 10)) == Self.expected(3...5))
        let one = Self.fields(Self.message(1)).readableBytes
        var small = RecentMessages(bounds: .init(count: 100, bytes: 2 * one))
        small.seed(Self.seed(1...5), floor: 0, lastID: 5, rev: 0)
        #expect(small.count == 2 && small.floor == 3)
    }

    @Test func changesReplaceTheStateAndLateOnesAreIgnored() {
        var recent = RecentMessages(bounds: .init(count: 10, bytes: 1 << 20))
        recent.seed(Self.seed(1...3), floor: 0, lastID: 3, rev: 4)
        let edited = Self.fields(Self.message(2, "edited"))
        recent.changed(id: 2, rev: 5, fields: edited)
        recent.revised(to: 5)
        // A change released late, older than the state the page showed, does not overwrite it.
        recent.changed(id: 3, rev: 3, fields: Self.fields(Self.message(3, "stale")))
        let page = recent.page(after: 1, clientRev: 5, limit: 10)
        #expect(Self.texts(page) == [String(buffer: edited), String(buffer: Self.fields(Self.message(3)))] && page?.rev == 5)
        #expect(recent.page(after: 1, clientRev: 4, limit: 10) == nil, "a client that missed a change needs `updates` from storage")
    }

    @Test func whatItCannotFollowEmptiesIt() {
        var gap = RecentMessages(bounds: .init(count: 10, bytes: 1 << 20))
        gap.seed(Self.seed(1...3), floor: 0, lastID: 3, rev: 0)
        gap.delivered(id: 5, fields: Self.fields(Self.message(5)))
        #expect(gap.last == nil && gap.page(after: 3, clientRev: nil, limit: 10) == nil)
        var early = RecentMessages(bounds: .init(count: 10, bytes: 1 << 20))
        early.seed(Self.seed(1...3), floor: 0, lastID: 3, rev: 0)
        early.changed(id: 4, rev: 1, fields: Self.fields(Self.message(4, "changed before delivered")))
        #expect(early.last == nil)
        early.delivered(id: 4, fields: Self.fields(Self.message(4)))
        #expect(early.page(after: 3, clientRev: nil, limit: 10) == nil, "stays empty")
    }
}
