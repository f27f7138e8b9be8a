import NIOCore
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

/// One connection's bounded outbound queue: held until `welcome`, cut off on overflow, drained on close.
@Suite struct OutboxTests {
    func frame(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func holdsUntilWelcomeAndDropsWhatHistoryCovered() async {
        let outbox = Outbox(limit: 1000)
        _ = outbox.enqueue([Room.Delivery(id: 4, frame: frame("m4"))])
        _ = outbox.enqueue(frame("join"))
        _ = outbox.enqueue([Room.Delivery(id: 5, frame: frame("m5"))])
        outbox.open(with: frame("welcome"), coveredID: 4)
        guard case .frames(let frames) = await outbox.next() else {
            Issue.record("expected frames")
            return
        }
        #expect(frames.map { String(buffer: $0) } == ["welcome", "join", "m5"])
        // A covered message whose delivery comes after welcome is dropped too.
        _ = outbox.enqueue([Room.Delivery(id: 3, frame: frame("m3"))])
        _ = outbox.enqueue([Room.Delivery(id: 6, frame: frame("m6"))])
        guard case .frames(let later) = await outbox.next() else {
            Issue.record("expected frames")
            return
        }
        #expect(later.map { String(buffer: $0) } == ["m6"])
    }

    @Test func overflowClosesWithSlowConsumerAndDropsTheRest() async {
        let outbox = Outbox(limit: 10)
        outbox.open(with: frame("welcome-is-not-counted"), coveredID: 0)
        #expect(outbox.enqueue(frame("12345")) == .queued)
        #expect(outbox.enqueue(frame("12345")) == .queued)
        #expect(outbox.enqueue(frame("1")) == .overflowed)
        // Reported once: later frames are refused.
        #expect(outbox.enqueue(frame("1")) == .refused)
        guard case .close(let code, let reason) = await outbox.next() else {
            Issue.record("expected close")
            return
        }
        #expect(code == 1008 && reason == "slow consumer")
        #expect(await outbox.next() == nil)
    }

    @Test func aWriterWaitingForItsSocketIsWokenByACloseButNotByFrames() {
        let outbox = Outbox(limit: 100)
        outbox.open(with: frame("w"), coveredID: 0)
        let woken = ManagedAtomicFlag()
        // Frames are queued, but a writer whose socket is full does not take them.
        #expect(outbox.pollClose { woken.set() } == nil)
        _ = outbox.enqueue(frame("a"))
        #expect(!woken.isSet)
        outbox.closeNow(code: 1008, reason: "slow consumer")
        #expect(woken.isSet)
        guard case .next(.close(1008, "slow consumer")) = outbox.pollClose(orWake: {}) else {
            Issue.record("expected the close")
            return
        }
    }

    @Test func messagesDeliveredTogetherAreQueuedAsOneByOneWouldBe() async {
        let outbox = Outbox(limit: 1000)
        let deliveries = (3...6).map { Room.Delivery(id: Int64($0), frame: frame("m\($0)")) }
        // Held before `welcome`, and what it covered (up to 4) is dropped.
        #expect(outbox.enqueue(deliveries) == .queued)
        outbox.open(with: frame("welcome"), coveredID: 4)
        guard case .frames(let frames) = await outbox.next() else {
            Issue.record("expected frames")
            return
        }
        #expect(frames.map { String(buffer: $0) } == ["welcome", "m5", "m6"])
    }

    @Test func aBatchThatOverflowsCutsOffOnceAndQueuesNothingAfterTheCut() async {
        let outbox = Outbox(limit: 10)
        outbox.open(with: frame("welcome-is-not-counted"), coveredID: 0)
        let deliveries = (1...3).map { Room.Delivery(id: Int64($0), frame: frame("12345")) }
        #expect(outbox.enqueue(deliveries) == .overflowed)
        #expect(outbox.enqueue([Room.Delivery(id: 4, frame: frame("1"))]) == .refused)
        guard case .close(1008, "slow consumer") = await outbox.next() else {
            Issue.record("expected the close")
            return
        }
        #expect(await outbox.next() == nil)
    }

    @Test func aBatchWakesItsWriterOnce() {
        let outbox = Outbox(limit: 1000)
        outbox.open(with: frame("w"), coveredID: 0)
        let wakes = Atomic(0)
        guard case .next(.frames) = outbox.poll(orWake: {}) else {
            Issue.record("expected the welcome")
            return
        }
        #expect(outbox.poll(orWake: { wakes.add(1, ordering: .relaxed) }) == nil)
        _ = outbox.enqueue((1...5).map { Room.Delivery(id: Int64($0), frame: frame("m\($0)")) })
        #expect(wakes.load(ordering: .relaxed) == 1)
        guard case .next(.frames(let frames)) = outbox.poll(orWake: {}) else {
            Issue.record("expected frames")
            return
        }
        #expect(frames.map { String(buffer: $0) } == ["m1", "m2", "m3", "m4", "m5"])
    }

    @Test func drainSendsQueuedFramesThenCloses() async {
        let outbox = Outbox(limit: 100)
        outbox.open(with: frame("w"), coveredID: 0)
        _ = outbox.enqueue(frame("a"))
        outbox.drainAndClose(code: 1001, reason: "bye")
        #expect(outbox.enqueue(frame("late")) == .refused)
        guard case .frames(let frames) = await outbox.next() else {
            Issue.record("expected frames")
            return
        }
        #expect(frames.count == 2)
        guard case .close(1001, _) = await outbox.next() else {
            Issue.record("expected close")
            return
        }
    }
}

extension Outbox.Next: Equatable {
    public static func == (lhs: Outbox.Next, rhs: Outbox.Next) -> Bool {
        switch (lhs, rhs) {
        case (.frames(let a), .frames(let b)): a.elementsEqual(b)
        case (.close(let a, let x), .close(let b, let y)): a == b && x == y
        default: false
        }
    }
}
