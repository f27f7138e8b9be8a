import NIOCore
import NIOPosix
import ParleyProtocol
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

    @Test func offALoopThereIsNoCommitter() {
        let committers = LoopCommitters(maxBatch: 1) { _, _ in }
        #expect(committers.current() == nil)
    }
}
