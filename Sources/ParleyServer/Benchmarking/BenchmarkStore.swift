import Logging
import ParleyProtocol
import Synchronization

/// A ``SQLiteMessageStore`` whose storage writer step, `commit(_:)`, a micro benchmark calls directly.
///
/// Micro benchmarks only (see ``BenchmarkHooks``). The commit queue and its service loop are bypassed: a
/// batch goes straight into one transaction, as the writer does with what it pops from the queue.
@_spi(Benchmarks)
public final class BenchmarkStore: Sendable {
    private let store: SQLiteMessageStore
    private let roomIDs: [Int64]
    private let nextClientID = Atomic<Int>(0)
    private let stored = Atomic<Int>(0)

    /// Opens (and migrates) the database at `location` and creates `rooms` rooms to spread messages over.
    public init(location: DatabaseLocation, rooms: Int) async throws {
        store = try SQLiteMessageStore(location: location, metrics: ParleyMetrics(), logger: Logger(label: "parley.benchmark"))
        var roomIDs: [Int64] = []
        for index in 0..<rooms {
            roomIDs.append(try await store.openRoom(code: "bench-\(index)").id)
        }
        self.roomIDs = roomIDs
    }

    /// Commits `count` messages with `text`, round-robin over the rooms, in one transaction; returns how
    /// many were stored. With `clientIDs`, each message carries a new client id (checked for duplicates).
    @discardableResult
    public func appendBatch(count: Int, text: String, clientIDs: Bool = false) async -> Int {
        let ts = Timestamp.now()
        let before = stored.load(ordering: .relaxed)
        var batch: [PendingMessage] = []
        batch.reserveCapacity(count)
        for index in 0..<count {
            let clientID = clientIDs ? "c\(nextClientID.add(1, ordering: .relaxed).newValue)" : nil
            batch.append(
                PendingMessage(roomID: roomIDs[index % roomIDs.count], nick: "bench", text: text, ts: ts, clientID: clientID) { [self] result in
                    if case .stored = result { stored.add(1, ordering: .relaxed) }
                }
            )
        }
        await store.commit(batch)
        return stored.load(ordering: .relaxed) - before
    }

    /// One step of the search indexer (``SQLiteSearchIndex/indexStep(_:)``), as the writer thread runs it; returns
    /// how many message ids it covered. The messages it takes are no longer counted as waiting, so the store's
    /// own writer does not index them meanwhile.
    public func indexStep() async throws -> Int {
        try await store.database.writeWithoutTransaction { [store] db in try store.searchIndex.indexStep(db).indexed }
    }
}
