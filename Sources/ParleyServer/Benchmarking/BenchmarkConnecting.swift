import Logging
import Synchronization

/// A room's ``SavedSessions`` after a restart, read once, for timing the takes of every member coming back.
///
/// Micro benchmarks only (see ``BenchmarkHooks``).
@_spi(Benchmarks)
public final class BenchmarkSavedSessions: Sendable {
    private let sessions = SavedSessions()
    private let authors: [AuthorKey]

    /// Reads `count` saved sessions (authors 0, 1, …) into the table the way the first member back does.
    public init(count: Int) async {
        authors = (0..<count).map { AuthorKey(value: Int64($0)) }
        let nicks = Dictionary(uniqueKeysWithValues: (0..<count).map { (Int64($0), "m\($0)") })
        _ = await sessions.take(AuthorKey(value: -1)) { nicks }
    }

    /// Takes every saved session once, as each member's connect does; returns how many were found.
    public func takeAll() -> Int {
        var found = 0
        for author in authors where sessions.take(author) != nil { found += 1 }
        return found
    }
}

/// A ``SQLiteMessageStore`` whose rooms are opened many at a time, as connections to many codes arrive at once.
///
/// Micro benchmarks only (see ``BenchmarkHooks``). The store's service is not run: its writer thread is.
@_spi(Benchmarks)
public final class BenchmarkRoomOpening: Sendable {
    private let store: SQLiteMessageStore

    /// Opens (and migrates) the database at `location`.
    public init(location: DatabaseLocation) throws {
        store = try SQLiteMessageStore(location: location, metrics: ParleyMetrics(), logger: Logger(label: "parley.benchmark"))
    }

    /// `SQLiteMessageStore.openRoom` for every code, at most `concurrency` at a time; returns how many opened.
    @discardableResult
    public func open(_ codes: [String], concurrency: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = codes.makeIterator()
            for _ in 0..<concurrency {
                guard let code = pending.next() else { break }
                group.addTask { [store] in _ = try await store.openRoom(code: code) }
            }
            var opened = 0
            while try await group.next() != nil {
                opened += 1
                if let code = pending.next() {
                    group.addTask { [store] in _ = try await store.openRoom(code: code) }
                }
            }
            return opened
        }
    }

    /// The same through `SQLiteMessageStore.openRoom(code:completion:)`, as an upgrade asks for a new room: no
    /// task per open, each answer on the writer thread asks for the next code.
    @discardableResult
    public func openAnswered(_ codes: [String], concurrency: Int) async throws -> Int {
        precondition(concurrency > 0, "at least one open at a time")
        return try await withCheckedThrowingContinuation { continuation in
            let feed = AnsweredOpens(store: store, codes: codes, continuation: continuation)
            for _ in 0..<min(concurrency, codes.count) { feed.askNext() }
            if codes.isEmpty { continuation.resume(returning: 0) }
        }
    }
}

/// Keeps a number of ``BenchmarkRoomOpening/openAnswered(_:concurrency:)``'s opens in flight.
private final class AnsweredOpens: Sendable {
    private struct State {
        var next = 0
        var answered = 0
        var ended = false
    }

    private let store: SQLiteMessageStore
    private let codes: [String]
    private let continuation: CheckedContinuation<Int, any Error>
    private let state = Mutex(State())

    init(store: SQLiteMessageStore, codes: [String], continuation: CheckedContinuation<Int, any Error>) {
        self.store = store
        self.codes = codes
        self.continuation = continuation
    }

    func askNext() {
        let index: Int? = state.withLock { state in
            guard state.next < codes.count else { return nil }
            defer { state.next += 1 }
            return state.next
        }
        guard let index else { return }
        let asked = store.openRoom(code: codes[index]) { result in self.answered(result) }
        if !asked { answered(.failure(StorageError.unavailable)) }
    }

    private func answered(_ result: Result<RoomRecord, any Error>) {
        let ending: Result<Int, any Error>? = state.withLock { state in
            guard !state.ended else { return nil }
            if case .failure(let error) = result {
                state.ended = true
                return .failure(error)
            }
            state.answered += 1
            guard state.answered == codes.count else { return nil }
            state.ended = true
            return .success(state.answered)
        }
        if let ending { return continuation.resume(with: ending) }
        askNext()
    }
}
