import ParleyBench
import Testing

/// A storm member's resume check, and the scan of `welcome` it relies on.
@Suite struct StormMemberTests {
    private func welcome(nick: String, lastID: Int64, history: [Int64] = []) -> WelcomeFrame {
        WelcomeFrame(nick: nick, session: "secret", lastID: lastID, historyIDs: history)
    }

    @Test func aCleanResumeHasNoFault() {
        var member = StormMember(room: 0, roomCode: "r-0", member: 1, nick: "m1")
        member.welcome(welcome(nick: "m1", lastID: 3, history: [1, 2, 3]), at: 0)
        for id in Int64(4)...6 { member.message(id: id, at: 1) }
        #expect(member.lastID == 6 && member.session == "secret")
        member.welcome(welcome(nick: "m1", lastID: 9, history: [7, 8, 9]), at: 2)
        member.message(id: 10, at: 3)
        member.finish()
        #expect(member.hasReached(10) && member.base == 3)
        #expect((member.gaps, member.duplicates, member.reorders) == (0, 0, 0))
        #expect(member.lostNickAs == nil && member.anomalies.isEmpty)
    }

    @Test func aResumeHistoryWithAHoleOrARepeatIsAFault() {
        var skipped = StormMember(room: 0, roomCode: "r-0", member: 0, nick: "m0")
        skipped.welcome(welcome(nick: "m0", lastID: 5), at: 0)
        skipped.welcome(welcome(nick: "m0", lastID: 8, history: [7, 8]), at: 1)
        skipped.finish()
        #expect((skipped.gaps, skipped.missingIDs) == (1, 1))
        #expect(skipped.anomalies.map(\.kind) == [.gap])

        var repeated = StormMember(room: 0, roomCode: "r-0", member: 0, nick: "m0")
        repeated.welcome(welcome(nick: "m0", lastID: 5), at: 0)
        repeated.welcome(welcome(nick: "m0", lastID: 6, history: [5, 6]), at: 1)
        repeated.finish()
        #expect((repeated.gaps, repeated.duplicates) == (0, 1))
    }

    @Test func anotherNickIsALostNick() {
        var member = StormMember(room: 0, roomCode: "r-0", member: 2, nick: "m2")
        member.welcome(welcome(nick: "m2", lastID: 0), at: 0)
        member.welcome(welcome(nick: "m2-2", lastID: 0), at: 1)
        #expect(member.lostNickAs == "m2-2")
    }

    @Test func theWelcomeScanReadsNickSessionAndHistoryIDs() {
        let frame = #"""
            {"type":"welcome","room":{"code":"r-0","name":null,"created_at":"2026-11-22T10:00:00.000Z"},"nick":"m1","session":"abc","members":["m0","m1"],"history":[{"id":7,"nick":"m0","text":"a \"quoted\" id:9","ts":"x"},{"nick":"m0","id":8,"text":"b","ts":"x","client_id":"c"}],"last_id":8,"truncated":false}
            """#
        let scanned = Array(frame.utf8).withUnsafeBytes { FrameScanner.scanWelcome($0) }
        #expect(scanned == WelcomeFrame(nick: "m1", session: "abc", lastID: 8, historyIDs: [7, 8]))
        let escaped = #"{"type":"welcome","nick":"m\u0031","session":"s","history":[],"last_id":0}"#
        #expect(Array(escaped.utf8).withUnsafeBytes { FrameScanner.scanWelcome($0) }?.nick == "m1")
        let message = #"{"type":"message","id":1,"nick":"m0","text":"t","ts":"x"}"#
        #expect(Array(message.utf8).withUnsafeBytes { FrameScanner.scanWelcome($0) } == nil)
    }
}
