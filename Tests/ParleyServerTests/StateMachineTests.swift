import NIOCore
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

@Suite struct RoomStateTests {
    let a = ConnectionID(value: 1)
    let b = ConnectionID(value: 2)
    let c = ConnectionID(value: 3)

    @Test func clashingNicksAreSuffixedCaseInsensitively() {
        var state = RoomState<Int>()
        #expect(state.join(a, desired: "Bob", session: secret(1), handle: 1).nick == "Bob")
        #expect(state.join(b, desired: "bob", session: secret(2), handle: 2).nick == "bob-2")
        #expect(state.join(c, desired: "BOB", session: secret(3), handle: 3).nick == "BOB-3")
        #expect(state.nicks == ["Bob", "bob-2", "BOB-3"])
        _ = state.leave(a)
        #expect(state.join(a, desired: "bob", session: secret(4), handle: 4).nick == "bob")
    }

    @Test func sessionReplacesTheLiveHolderUnderItsNick() {
        var state = RoomState<Int>()
        _ = state.join(a, desired: "alice", session: secret(9), handle: 1)
        let joined = state.join(b, desired: "ignored", session: secret(9), handle: 2)
        #expect(joined.nick == "alice")
        #expect(joined.replaced?.id == a)
        #expect(state.members.count == 1)
        #expect(state.leave(a) == nil)
    }

    @Test func renameRefusesANickHeldByAnother() throws {
        var state = RoomState<Int>()
        _ = state.join(a, desired: "alice", session: secret(1), handle: 1)
        _ = state.join(b, desired: "bob", session: secret(2), handle: 2)
        #expect(throws: ProtocolError.self) { try state.rename(b, to: "ALICE") }
        #expect(try state.rename(a, to: "ALICE")?.from == "alice")
        #expect(state.nicks == ["ALICE", "bob"])
    }
}

@Suite struct RateLimiterTests {
    @Test func burstThenRate() {
        let start = ContinuousClock.now
        var limiter = RateLimiter(burst: 3, perSecond: 2, now: start)
        for _ in 0..<3 { #expect(limiter.take(now: start) == .allow) }
        #expect(limiter.take(now: start) == .refuse)
        #expect(limiter.take(now: start + .milliseconds(500)) == .allow)
        #expect(limiter.take(now: start + .milliseconds(500)) == .refuse)
    }

    @Test func fiftiethRefusalWithinTenSecondsCloses() {
        let start = ContinuousClock.now
        var limiter = RateLimiter(burst: 1, perSecond: 1, now: start)
        for i in 1..<50 { #expect(limiter.refuse(now: start + .milliseconds(i)) == .refuse) }
        #expect(limiter.refuse(now: start + .milliseconds(60)) == .close)
        var spread = RateLimiter(burst: 1, perSecond: 1, now: start)
        for i in 0..<100 { #expect(spread.refuse(now: start + .milliseconds(250 * i)) == .refuse) }
    }

    @Test func zeroRateMeansNoLimit() {
        var limiter = RateLimiter(burst: 1, perSecond: 0)
        for _ in 0..<1000 { #expect(limiter.take() == .allow) }
    }
}

@Suite struct ConnectionLimiterTests {
    let a = ClientAddress(IPAddress("192.0.2.1"))
    let b = ClientAddress(IPAddress("192.0.2.2"))
    let c = ClientAddress(IPAddress("192.0.2.3"))
    let d = ClientAddress(IPAddress("192.0.2.4"))

    @Test func limitsPerAddressInTotalAndWhileDraining() throws {
        let limiter = ConnectionLimiter(maxTotal: 3, maxPerAddress: 2)
        let first = try limiter.reserve(address: a)
        var held = [try limiter.reserve(address: a)]
        #expect(throws: ConnectionLimiter.Refusal.perAddress) { try limiter.reserve(address: a) }
        held.append(try limiter.reserve(address: b))
        try withExtendedLifetime(held) {
            #expect(throws: ConnectionLimiter.Refusal.total) { try limiter.reserve(address: c) }
            // A slot is given back once, however often it is released: one place is free, not two.
            first.release()
            first.release()
            let next = try limiter.reserve(address: c)
            #expect(throws: ConnectionLimiter.Refusal.total) { try limiter.reserve(address: d) }
            next.release()
            limiter.startDraining()
            #expect(throws: ConnectionLimiter.Refusal.shuttingDown) { try limiter.check(address: c) }
        }
        #expect(ChatHub.refusal(.shuttingDown).status == .serviceUnavailable)
        #expect(ChatHub.refusal(.perAddress).status == .tooManyRequests)
    }

    @Test func aSlotNobodyReleasedIsGivenBackWhenItIsDropped() throws {
        let limiter = ConnectionLimiter(maxTotal: 1, maxPerAddress: 1)
        // An upgrade that never completed: its slot is dropped without a release.
        _ = try limiter.reserve(address: a)
        try withExtendedLifetime(try limiter.reserve(address: a)) {
            #expect(throws: ConnectionLimiter.Refusal.total) { try limiter.reserve(address: b) }
        }
    }
}

@Suite struct OutboxTests {
    func frame(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func holdsUntilWelcomeAndDropsWhatHistoryCovered() async {
        let outbox = Outbox(limit: 1000)
        _ = outbox.enqueue(frame("m4"), messageID: 4)
        _ = outbox.enqueue(frame("join"))
        _ = outbox.enqueue(frame("m5"), messageID: 5)
        outbox.open(with: frame("welcome"), coveredID: 4)
        guard case .frames(let frames) = await outbox.next() else {
            Issue.record("expected frames")
            return
        }
        #expect(frames.map { String(buffer: $0) } == ["welcome", "join", "m5"])
        // A covered message whose delivery comes after welcome is dropped too.
        _ = outbox.enqueue(frame("m3"), messageID: 3)
        _ = outbox.enqueue(frame("m6"), messageID: 6)
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

/// A flag set from a `@Sendable` callback.
final class ManagedAtomicFlag: Sendable {
    private let flag = Synchronization.Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

@Suite struct CommitQueueTests {
    @Test func producersWaitWhileFullAndFinishRefusesNewItems() async throws {
        let queue = CommitQueue<Int>(capacity: 2)
        try await queue.push(1)
        try await queue.push(2)
        let third = ManagedAtomicFlag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await queue.push(3)
                third.set()
            }
            // The writer takes what is queued; only then does the waiting producer get its place.
            #expect(await queue.popBatch(max: 10) == [1, 2])
            try await group.waitForAll()
        }
        #expect(third.isSet)
        #expect(await queue.popBatch(max: 10) == [3])
        queue.finish()
        await #expect(throws: CommitQueue<Int>.Finished.self) { try await queue.push(4) }
        #expect(await queue.popBatch(max: 10) == nil)
    }
}

@Suite struct SessionTableTests {
    @Test func secretsAreRoomBoundFollowRebindsAndTheOldestIsForgotten() {
        let table = SessionTable(capacity: 2)
        table.bind(secret(1), roomCode: "a", nick: "ann")
        table.bind(secret(2), roomCode: "a", nick: "bob")
        #expect(table.lookup(secret(1), roomCode: "b") == nil)
        table.bind(secret(1), roomCode: "a", nick: "anna")
        #expect(table.lookup(secret(1), roomCode: "a")?.nick == "anna")
        table.bind(secret(3), roomCode: "a", nick: "cy")
        #expect(table.lookup(secret(1), roomCode: "a") == nil)
        #expect(table.lookup(secret(3), roomCode: "a")?.nick == "cy")
    }
}

@Suite struct SessionSecretTests {
    @Test func aSecretReadsBackFromItsWrittenForm() throws {
        let secret = SessionSecret.random()
        #expect(secret.description.count == 40)
        #expect(SessionSecret(secret.description) == secret)
        #expect(SessionSecret.random() != secret)
        let padded = "00000000000000000000000000000000000000a1"
        #expect(try #require(SessionSecret(padded)).description == padded)
    }

    @Test(arguments: ["", "abc", String(repeating: "A", count: 40), String(repeating: "g", count: 40), String(repeating: "0", count: 41)])
    func onlyFortyLowercaseHexDigitsAreASecret(text: String) {
        #expect(SessionSecret(text) == nil)
    }
}

/// A fixed secret for tests: `n` in the last hex digits.
func secret(_ n: Int) -> SessionSecret {
    let hex = String(n, radix: 16)
    return SessionSecret(String(repeating: "0", count: 40 - hex.count) + hex)!
}
