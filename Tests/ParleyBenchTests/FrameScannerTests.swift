import Foundation
import ParleyBench
import Testing

@Suite struct FrameScannerTests {
    private func scan(_ text: String) -> ScannedFrame {
        Array(text.utf8).withUnsafeBytes { FrameScanner.scan($0) }
    }

    @Test func readsAParleyMessageWithItsMarker() {
        let frame = #"{"type":"message","id":43,"nick":"m0","text":"pb:123456789:17 xxxx","ts":"2026-11-22T10:00:03.412Z"}"#
        #expect(scan(frame) == .message(id: 43, stamp: BenchStamp(sentAt: 123_456_789, seq: 17)))
    }

    @Test func readsOtherSpacingAndKeyOrder() {
        let frame = #"{ "text" : "pb:5:6 x", "id" : 7, "type" : "message" }"#
        #expect(scan(frame) == .message(id: 7, stamp: BenchStamp(sentAt: 5, seq: 6)))
    }

    @Test func aMessageWithoutMarkerStillHasItsID() {
        #expect(scan(#"{"type":"message","id":9,"nick":"bob","text":"hi"}"#) == .message(id: 9, stamp: nil))
    }

    @Test func keysInsideStringsAreNotKeys() {
        let frame = #"{"type":"message","nick":"x\"id\":1,\"type\":\"join","id":12,"text":"pb:1:2"}"#
        #expect(scan(frame) == .message(id: 12, stamp: BenchStamp(sentAt: 1, seq: 2)))
    }

    @Test func welcomeGivesItsLastID() {
        let frame =
            #"{"type":"welcome","room":{"code":"a","name":null,"created_at":"x"},"nick":"m0","session":"s","#
            + #""members":["m0"],"history":[{"id":3,"nick":"b","text":"t","ts":"x"}],"last_id":3,"truncated":false}"#
        #expect(scan(frame) == .welcome(lastID: 3))
    }

    @Test func errorGivesItsCode() {
        #expect(scan(#"{"type":"error","code":"rate_limited","message":"slow down"}"#) == .error(code: "rate_limited"))
    }

    @Test func otherEventsAndJunk() {
        #expect(scan(#"{"type":"join","nick":"m1","ts":"x"}"#) == .other)
        #expect(scan("not json") == .unreadable)
        #expect(scan(#"{"id":1}"#) == .unreadable)
    }

    @Test func stampTextHasTheRequestedSize() {
        let stamp = BenchStamp(sentAt: 1_000_000, seq: 3)
        #expect(stamp.text(size: 64).utf8.count == 64)
        #expect(stamp.text(size: 4).hasPrefix("pb:1000000:3"))
        let command = stamp.command(size: 32)
        let decoded = try? JSONSerialization.jsonObject(with: Data(command.utf8)) as? [String: String]
        #expect(decoded?["type"] == "message")
        #expect(decoded?["text"] == stamp.text(size: 32))
    }
}
