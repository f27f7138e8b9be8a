import Foundation
import ParleyProtocol
import Synchronization
import Testing

@testable import ParleyServer

/// The writer thread's bounded backlog: a sender past it waits for room instead of taking another way in
/// (which could store its later messages before its earlier ones).
@Suite struct SQLiteWriterTests {
    final class Flag: Sendable {
        let value = Atomic(false)
    }

    static func message(_ text: String) -> PendingMessage {
        PendingMessage(roomID: 1, nick: "n", text: text, ts: Timestamp(milliseconds: 0), clientID: nil) { _ in }
    }

    @Test(.timeLimit(.minutes(1))) func aFullBacklogIsWaitedOutAndCommitsKeepTheirOrder() async throws {
        // The commit blocks until the test lets it go, as a slow disk would.
        let gate = DispatchSemaphore(value: 0)
        let committed = Mutex<[String]>([])
        let writer = SQLiteWriter(maxBatch: 10, capacity: 2) { batch, _ in
            gate.wait()
            committed.withLock { $0 += batch.map(\.text) }
        }
        writer.enqueue([Self.message("1"), Self.message("2")])
        #expect(!writer.hasRoom)
        let waited = Flag()
        async let waiting: Void = {
            await writer.waitForRoom()
            waited.value.store(true, ordering: .relaxed)
        }()
        writer.enqueue([Self.message("3")])
        let early = waited.value.load(ordering: .relaxed)
        #expect(!early)
        gate.signal()
        gate.signal()
        await waiting
        #expect(writer.hasRoom)
        await writer.shutdown()
        #expect(committed.withLock { $0 } == ["1", "2", "3"])
    }

    /// Background work (the search index's upkeep) runs only while no commit waits, until none is left, and
    /// after each commit it is asked whether a step is due; ``SQLiteWriter/wake()`` starts it on an idle thread.
    @Test(.timeLimit(.minutes(1))) func backgroundStepsWaitForCommits() async {
        let entered = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let log = Mutex<[String]>([])
        let work = Atomic(3)
        let (idle, idleStep) = AsyncStream.makeStream(of: Int.self)
        let writer = SQLiteWriter(
            maxBatch: 10,
            capacity: 100,
            commit: { batch, _ in
                entered.signal()
                gate.wait()
                log.withLock { $0 += batch.map(\.text) }
            },
            background: { isIdle in
                log.withLock { $0.append(isIdle ? "idle" : "after") }
                guard isIdle else { return work.load(ordering: .relaxed) > 0 }
                let left = work.subtract(1, ordering: .relaxed).newValue
                idleStep.yield(left)
                return left > 0
            }
        )
        writer.enqueue([Self.message("1")])
        entered.wait()
        writer.enqueue([Self.message("2")])
        gate.signal()
        gate.signal()
        var steps = idle.makeAsyncIterator()
        while let left = await steps.next(), left > 0 {}
        #expect(log.withLock { $0 } == ["1", "after", "2", "after", "idle", "idle", "idle"])
        work.store(1, ordering: .relaxed)
        writer.wake()
        _ = await steps.next()
        await writer.shutdown()
        #expect(log.withLock { $0 }.count == 8)
    }

    /// A joiner's session: a row no one waits for.
    static func session(_ nick: String) -> PendingMessage {
        var session = message(nick)
        session.onlySession = true
        return session
    }

    /// Rows that joins make wait for more (``SQLiteWriter/gatheringJoins``), here for five minutes, but a message
    /// ends the wait at once and they all commit together. (Without the wake-up the time limit fails the test, and
    /// the writer's shutdown lets it end once the five minutes are over.)
    @Test(.timeLimit(.minutes(1))) func aMessageEndsTheWaitForMoreJoins() async {
        let committed = AsyncStream.makeStream(of: [String].self)
        let waiting = AsyncStream.makeStream(of: Void.self)
        let writer = SQLiteWriter(
            maxBatch: 10,
            capacity: 100,
            gathering: .seconds(300),
            startsGathering: { waiting.continuation.yield() },
            commit: { batch, rooms in
                committed.continuation.yield(batch.map(\.text) + rooms.opening.map { "open \($0.code)" })
                for room in rooms.opening { room.completion(.failure(StorageError.unavailable)) }
            }
        )
        writer.open(RoomOpening(code: "a") { _ in })
        var waits = waiting.stream.makeAsyncIterator()
        await waits.next()
        writer.enqueue([Self.session("s1")])
        writer.enqueue([Self.message("m")])
        var commits = committed.stream.makeAsyncIterator()
        #expect(await commits.next() == ["s1", "m", "open a"])
        await writer.shutdown()
    }

    /// With nothing else coming, the rows commit once the wait is over.
    @Test(.timeLimit(.minutes(1))) func joinsAloneCommitAfterTheWait() async {
        let committed = AsyncStream.makeStream(of: [String].self)
        let writer = SQLiteWriter(maxBatch: 10, capacity: 100, gathering: .milliseconds(10)) { batch, rooms in
            committed.continuation.yield(batch.map(\.text) + rooms.opening.map { "open \($0.code)" })
            for room in rooms.opening { room.completion(.failure(StorageError.unavailable)) }
        }
        writer.open(RoomOpening(code: "a") { _ in })
        writer.enqueue([Self.session("s1")])
        var commits = committed.stream.makeAsyncIterator()
        #expect(await commits.next() == ["s1", "open a"])
        await writer.shutdown()
    }

    @Test(.timeLimit(.minutes(1))) func withRoomTheWaitReturnsAtOnce() async {
        let writer = SQLiteWriter(maxBatch: 10, capacity: 2) { _, _ in }
        await writer.waitForRoom()
        await writer.shutdown()
    }

    /// A writer whose every commit waits for the test (``release()``) and logs one line: the batch's texts, then
    /// `open CODE` and `forget CODE` for its room rows, which it answers (opens with a failure: nothing is stored).
    final class GatedWriter: Sendable {
        final class Lines: Sendable {
            let value = Mutex<[String]>([])
        }

        let entered: DispatchSemaphore
        let gate: DispatchSemaphore
        let log = Lines()
        let writer: SQLiteWriter

        init(maxBatch: Int) {
            let (entered, gate, log) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), log)
            (self.entered, self.gate) = (entered, gate)
            writer = SQLiteWriter(maxBatch: maxBatch, capacity: 100) { batch, rooms in
                entered.signal()
                gate.wait()
                let rows = rooms.opening.map { "open \($0.code)" } + rooms.forgetting.map { "forget \($0.room.code)" }
                log.value.withLock { $0.append((batch.map(\.text) + rows).joined(separator: " ")) }
                for room in rooms.opening { room.completion(.failure(StorageError.unavailable)) }
                for room in rooms.forgetting { room.done() }
            }
        }

        /// Lets the commit under way finish.
        func release() { gate.signal() }
        /// Waits for the next commit to start.
        func waitForCommit() { entered.wait() }
    }

    /// A room opened while a commit runs goes into the next transaction with the messages handed over meanwhile
    /// (one commit, one sync); a room alone gets a transaction too.
    @Test(.timeLimit(.minutes(1))) func roomsToOpenShareTheNextCommit() async {
        let gated = GatedWriter(maxBatch: 10)
        let writer = gated.writer
        writer.enqueue([Self.message("1")])
        gated.waitForCommit()
        let answered = AsyncStream.makeStream(of: String.self)
        for code in ["a", "b"] {
            writer.open(RoomOpening(code: code) { _ in answered.continuation.yield(code) })
        }
        writer.enqueue([Self.message("2")])
        gated.release()
        gated.waitForCommit()
        gated.release()
        var codes = answered.stream.makeAsyncIterator()
        #expect(await [codes.next(), codes.next()] == ["a", "b"])
        writer.open(RoomOpening(code: "c") { _ in answered.continuation.yield("c") })
        gated.waitForCommit()
        gated.release()
        #expect(await codes.next() == "c")
        await writer.shutdown()
        #expect(gated.log.value.withLock { $0 } == ["1", "2 open a open b", "open c"])
    }

    /// A hand-over larger than one transaction: rooms to open go with its first, rooms to forget with its last
    /// (after every session saved before the forget was asked for).
    @Test(.timeLimit(.minutes(1))) func roomsToForgetGoAfterTheMessagesHandedOverBefore() async {
        let gated = GatedWriter(maxBatch: 2)
        let writer = gated.writer
        writer.enqueue([Self.message("1")])
        gated.waitForCommit()
        let forgotten = AsyncStream.makeStream(of: Void.self)
        writer.enqueue([Self.message("2"), Self.message("3"), Self.message("4")])
        writer.forget(RoomForgetting(room: RoomRecord(id: 1, code: "gone", name: nil, createdAt: .now())) { forgotten.continuation.yield() })
        writer.open(RoomOpening(code: "new") { _ in })
        writer.enqueue([Self.message("5")])
        // Lets "1" go, then the first of the two transactions that follow.
        for _ in 0..<2 {
            gated.release()
            gated.waitForCommit()
        }
        gated.release()
        var done = forgotten.stream.makeAsyncIterator()
        _ = await done.next()
        await writer.shutdown()
        #expect(gated.log.value.withLock { $0 } == ["1", "2 3 open new", "4 5 forget gone"])
    }
}
