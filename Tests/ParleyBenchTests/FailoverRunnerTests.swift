import Foundation
import ParleyBench
import ParleyTestSupport
import Testing

/// `parley bench --failover` end to end against two nodes of a server that shares its rooms between them: one
/// node dies mid-run, its members move to the other; a correct failover is clean, a broken one is caught.
@Suite struct FailoverRunnerTests {
    /// One room of four members over two nodes: m0 (a publisher) and m2 on node 0, m1 (a publisher) and m3 on node 1.
    private func plan(ports: [Int]) throws -> BenchPlan {
        var plan = BenchPlan(endpoints: try ports.map { try BenchEndpoint(parsing: "http://127.0.0.1:\($0)") }, rooms: 1, membersPerRoom: 4)
        plan.publishersPerRoom = 2
        plan.duration = .seconds(2)
        // A loaded test machine can take a while to answer: an acknowledgement late by more than this makes a
        // resend, and the drain gives up after its time with members still behind.
        plan.drain = .seconds(8)
        plan.joinTimeout = .seconds(10)
        plan.ackTimeout = .milliseconds(1500)
        return plan
    }

    @Test(.timeLimit(.minutes(1)), arguments: BrokenStormServer.Fault.allCases.filter { $0 != .closesAfterResume })
    func aNodeThatDiesIsSurvivedAndABrokenFailoverIsCaught(fault: BrokenStormServer.Fault) async throws {
        try await BrokenStormServer.runNodes(fault, nodes: 2) { ports, kill in
            let plan = try plan(ports: ports)
            let report = await FailoverRunner(plan: plan, rate: 20, faultAt: .milliseconds(500), logger: .quiet) { kill(0) }.run()
            #expect(report.completed)
            #expect(report.joined == 4 && report.failed == 0)
            #expect(report.moved == 2 && report.back == 2)
            // Back, not how fast: that is the failover benchmark's to say (2 s was missed with every suite running).
            #expect(report.allBackSeconds.map { $0 < 15 } == true)
            #expect(report.firstDropSeconds.map { $0 >= 0.5 } == true)
            #expect(report.sent >= 36 && report.unacknowledged == 0)
            switch fault {
            case .none:
                #expect(report.isClean)
                #expect(report.anomalies.isEmpty && report.firstError == nil)
                #expect(report.deliveries == report.sent * 4)
            case .skipsAnIDInHistory:
                // The dying node's last message (m0's) is the first after the movers' `since`: m2 never gets it;
                // m0 gets it as the answer to its resend. Each answer to a resend may come after later ones (on a
                // loaded machine m0 can have had more than one message in flight at the kill).
                #expect((report.gaps, report.missingIDs) == (1, 1))
                #expect(report.resent >= 1 && report.reorders <= report.resent)
            case .repeatsTheLastSeenID:
                // m2 gets its newest id again at each resume (more than one if a dial must be made again); m0 too,
                // unless that id is m0's own (then it reads as a resend's answer).
                #expect(report.duplicates >= 1 && report.gaps == 0, "\(report.text)")
            case .losesNicks:
                #expect((report.gaps, report.duplicates, report.lostNicks) == (0, 0, 2))
                #expect(report.lostNickSample?.hasSuffix("got m0-2") == true || report.lostNickSample?.hasSuffix("got m2-2") == true)
            case .losesTheLastMessageOfADeadNode:
                // m1 and m3 on the live node never get the dead node's last message. (The movers may also see an
                // answer to a resend after later messages on a loaded machine: a reorder, not a gap.)
                #expect((report.gaps, report.missingIDs, report.duplicates) == (2, 2, 0))
                #expect(Set(report.anomalies.filter { $0.kind == .gap }.map(\.member)) == [1, 3])
            case .closesAfterResume:
                Issue.record("a storm fault")
            }
            if fault != .none {
                #expect(report.hasFaults && !report.isClean, "\(report.text)")
            }
            #expect(report.text.contains("moved        2 members, 2 back"))
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
            #expect(json?["all_back_s"] != nil && json?["stored_twice"] as? Int == report.storedTwice && json?["gaps"] as? Int == report.gaps)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFaultThatDropsNothingIsReported() async throws {
        try await BrokenStormServer.runNodes(.none, nodes: 2) { ports, _ in
            var plan = try plan(ports: ports)
            plan.duration = .seconds(1)
            let report = await FailoverRunner(plan: plan, rate: 20, faultAt: .milliseconds(200), logger: .quiet) {}.run()
            // Reorders are left out: the fixture's nodes hand each other's messages on without an order of
            // their own, and on a loaded machine a member once saw id 5 before 3 (one run in thirteen).
            #expect(!report.completed && !report.isClean, "\(report.text)")
            #expect((report.gaps, report.duplicates, report.storedTwice, report.lostNicks, report.behind) == (0, 0, 0, 0, 0), "\(report.text)")
            #expect(report.moved == 0)
            #expect(report.firstError == "the fault dropped no connection")
        }
    }
}

/// A failover member's checks as a value type: acknowledgements, resends and their answers, messages stored twice.
@Suite struct FailoverMemberTests {
    private func welcome(_ nick: String, lastID: Int64, history: [(Int64, BenchStamp?)] = []) -> WelcomeFrame {
        WelcomeFrame(nick: nick, session: "secret", lastID: lastID, historyIDs: history.map(\.0), historyStamps: history.map(\.1))
    }

    @Test func aMovedPublisherResendsOnlyWhatDidNotComeBack() {
        var member = FailoverMember(room: 0, roomCode: "r-0", member: 1, nick: "m1", publisher: 1, publishers: 2)
        member.welcome(welcome("m1", lastID: 10), at: 0)
        let first = member.nextMessage(at: 1)
        let second = member.nextMessage(at: 2)
        let third = member.nextMessage(at: 3)
        #expect((first.seq, second.seq, third.seq) == (1, 3, 5))
        member.message(id: 11, stamp: first, at: 4)
        member.dropped(at: 5)
        #expect(member.awaySince == 5 && !member.connected)
        // The new node's history holds the second one (stored before the drop); the third never made it.
        member.welcome(welcome("m1", lastID: 12, history: [(12, second)]), at: 6)
        #expect(member.backAt == 6 && member.droppedAt == 5)
        #expect(member.awaySince == nil)
        let again = member.resend()
        #expect(again == [third] && member.resent == 1)
        member.message(id: 13, stamp: third, at: 7)
        // A second resend of the third crossed its echo: the server answers with the original, to the sender alone.
        member.message(id: 13, stamp: third, at: 8)
        member.finish()
        #expect(member.unacknowledged.isEmpty && member.deliveries == 3)
        #expect((member.gaps, member.duplicates, member.reorders, member.storedTwice) == (0, 0, 0, 0))
        #expect(member.lostNickAs == nil)
    }

    @Test func aMessageStoredTwiceOrDeliveredTwiceIsAFault() {
        var reader = FailoverMember(room: 0, roomCode: "r-0", member: 2, nick: "m2", publisher: nil, publishers: 2)
        reader.welcome(welcome("m2", lastID: 0), at: 0)
        let stamp = BenchStamp(sentAt: 1, seq: 0)
        reader.message(id: 1, stamp: stamp, at: 1)
        reader.message(id: 2, stamp: stamp, at: 2)
        reader.message(id: 2, stamp: stamp, at: 3)
        reader.finish()
        #expect(reader.storedTwice == 1 && reader.storedTwiceSample == "room r-0: message 0 as ids 1 and 2")
        #expect(reader.duplicates == 1 && reader.anomalies.map(\.kind) == [.duplicate])
    }

    @Test func theCommandCarriesTheClientID() throws {
        let command = BenchStamp(sentAt: 5, seq: 3).command(size: 20, clientID: FailoverMember.clientID(3))
        let object = try JSONSerialization.jsonObject(with: Data(command.utf8)) as? [String: String]
        #expect(object?["client_id"] == "pb3" && object?["text"]?.hasPrefix("pb:5:3 ") == true)
        let welcome =
            #"{"type":"welcome","nick":"m0","session":"s","history":[{"id":4,"text":"pb:5:3 x","client_id":"pb3"},{"id":5,"text":"hi"}],"last_id":5}"#
        let scanned = Array(welcome.utf8).withUnsafeBytes { FrameScanner.scanWelcome($0) }
        #expect(scanned?.historyIDs == [4, 5] && scanned?.historyStamps == [BenchStamp(sentAt: 5, seq: 3), nil])
    }
}
