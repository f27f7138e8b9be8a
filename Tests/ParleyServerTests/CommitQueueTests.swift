import ParleyTestSupport
import Testing

@testable import ParleyServer

/// The bounded queue in front of the storage writer.
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
