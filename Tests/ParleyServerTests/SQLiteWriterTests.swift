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
        let writer = SQLiteWriter(maxBatch: 10, capacity: 2) { batch in
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

    @Test(.timeLimit(.minutes(1))) func withRoomTheWaitReturnsAtOnce() async {
        let writer = SQLiteWriter(maxBatch: 10, capacity: 2) { _ in }
        await writer.waitForRoom()
        await writer.shutdown()
    }
}
