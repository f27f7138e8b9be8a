import Logging
import NIOCore
import NIOPosix
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

@Suite struct LoopCommitterTests {
    /// Batches as the commit closure saw them: the texts, and whether it ran on the loop.
    final class Commits: Sendable {
        let batches = Mutex<[[String]]>([])
        let offLoop = Atomic(0)

        func record(_ batch: [PendingMessage], on eventLoop: any EventLoop) {
            if !eventLoop.inEventLoop { offLoop.add(1, ordering: .relaxed) }
            batches.withLock { $0.append(batch.map(\.text)) }
        }
    }

    static func message(_ text: String) -> PendingMessage {
        PendingMessage(roomID: 1, nick: "n", text: text, ts: Timestamp(milliseconds: 0), clientID: nil) { _ in }
    }

    @Test(.timeLimit(.minutes(1))) func whatOnePassOffersIsCommittedTogetherAfterIt() async throws {
        let commits = Commits()
        let committers = LoopCommitters(maxBatch: 3) { batch, eventLoop in commits.record(batch, on: eventLoop) }
        let loop = MultiThreadedEventLoopGroup.singleton.next()

        // Seven messages in one task (one pass), then one in the next: batches of at most three, in order,
        // and nothing committed before the pass ends.
        let committedDuringPass = try await loop.submit {
            let committer = try #require(committers.current())
            for text in ["a", "b", "c", "d", "e", "f", "g"] { committer.add(Self.message(text)) }
            return commits.batches.withLock { $0.count }
        }.get()
        try await loop.submit { try #require(committers.current()).add(Self.message("h")) }.get()
        // Tasks run in order: once this one has run, so have both passes' commits.
        try await loop.submit {}.get()

        #expect(committedDuringPass == 0)
        #expect(commits.batches.withLock { $0 } == [["a", "b", "c"], ["d", "e", "f"], ["g"], ["h"]])
        #expect(commits.offLoop.load(ordering: .relaxed) == 0)
    }

    /// Two loops commit to one store in turn; a room must still hear of its messages in id order (else its
    /// sequencer reads storage to fill what looks like a gap).
    @Test(.timeLimit(.minutes(1))) func twoLoopsCompleteARoomsMessagesInIdOrder() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-loops")
        let path = directory.url.appendingPathComponent("loops.sqlite").path
        let store = try SQLiteMessageStore(location: .sqliteFile(path), metrics: ParleyMetrics(), logger: Logger(label: "test"))
        let room = try await store.openRoom(code: "both")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let (completed, completion) = AsyncStream.makeStream(of: Int64.self)
        let passes = 40
        let perPass = 25
        for loop in [group.next(), group.next()] {
            for _ in 0..<passes {
                loop.execute {
                    for _ in 0..<perPass {
                        let message = PendingMessage(roomID: room.id, nick: "n", text: "t", ts: Timestamp(milliseconds: 0), clientID: nil) {
                            if case .stored(let message) = $0 { completion.yield(message.id) }
                        }
                        #expect(store.offer(message))
                    }
                }
            }
        }
        var ids: [Int64] = []
        for await id in completed {
            ids.append(id)
            if ids.count == 2 * passes * perPass { break }
        }
        try await group.shutdownGracefully()
        #expect(ids == Array(1...Int64(2 * passes * perPass)))
    }

    /// The disk is never waited for on an event loop: a message offered on a loop is committed, and its
    /// completion run, on the writer thread.
    @Test(.timeLimit(.minutes(1))) func commitsRunOnTheWriterThreadNotTheLoop() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-writer")
        let path = directory.url.appendingPathComponent("writer.sqlite").path
        let store = try SQLiteMessageStore(location: .sqliteFile(path), metrics: ParleyMetrics(), logger: Logger(label: "test"))
        let room = try await store.openRoom(code: "thread")
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let (completed, completion) = AsyncStream.makeStream(of: Bool.self)
        try await loop.submit {
            let message = PendingMessage(roomID: room.id, nick: "n", text: "t", ts: Timestamp(milliseconds: 0), clientID: nil) { result in
                guard case .stored = result else { return }
                completion.yield(MultiThreadedEventLoopGroup.currentEventLoop != nil)
            }
            #expect(store.offer(message))
        }.get()
        var iterator = completed.makeAsyncIterator()
        #expect(await iterator.next() == false)
    }

    @Test func offALoopThereIsNoCommitter() {
        let committers = LoopCommitters(maxBatch: 1) { _, _ in }
        #expect(committers.current() == nil)
    }
}
