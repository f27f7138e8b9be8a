import Foundation
import GRDB
import ParleyProtocol
import ParleyTestSupport
import Synchronization
import Testing

@testable import ParleyServer

/// Opening a code on SQLite: the writer thread looks it up and inserts it in its next transaction
/// (``SQLiteWriter/open(_:)``), and a room it inserted needs no read for its first `welcome`
/// (``Room/historyIfUntouched()``) unless a commit for the code went by while it was opening.
@Suite struct RoomOpeningTests {
    static func store(_ directory: TemporaryDirectory) throws -> SQLiteMessageStore {
        let path = directory.url.appendingPathComponent("rooms.sqlite").path
        return try SQLiteMessageStore(location: .sqliteFile(path), metrics: ParleyMetrics(), logger: .quiet)
    }

    @Test(.timeLimit(.minutes(1))) func onlyTheOpenThatInsertsAnOpenRoomCallsItFresh() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        // Many at once share the writer's transactions; each code gets a room of its own.
        let opened = try await withThrowingTaskGroup(of: RoomRecord.self) { group in
            for n in 0..<64 { group.addTask { try await store.openRoom(code: "code-\(n)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(opened.map(\.id)).count == 64)
        #expect(Set(opened.map(\.code)).count == 64)
        #expect(opened.allSatisfy { $0.fresh && $0.ephemeral })
        // An inserted room is not read back: what the open returns is what a read finds.
        for record in opened {
            var read = try #require(try await store.room(code: record.code))
            read.fresh = true
            #expect(read == record)
        }

        let again = try await store.openRoom(code: "code-7")
        #expect(!again.fresh)
        #expect(again.id == opened.first { $0.code == "code-7" }?.id)
        let made = try await store.createRoom(code: "made", name: "Made")
        let reopened = try await store.openRoom(code: "made")
        #expect(!reopened.fresh && !reopened.ephemeral && reopened.id == made.id)
    }

    @Test(.timeLimit(.minutes(1))) func aFreshRoomsFirstWelcomeReadsNothingUntilItIsAnchored() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        let registry = RoomRegistry(feed: RoomFeed(store: store, logger: .quiet), metrics: ParleyMetrics())
        let room = try #require(try await registry.acquire(code: "new") { try await store.openRoom(code: "new") })
        #expect(room.historyIfUntouched() == MessagePage(messages: [], hasMore: false, lastID: 0))
        room.anchor(after: 0)
        #expect(room.historyIfUntouched() == nil)

        // Read or made elsewhere: storage answers.
        let old = try #require(try await registry.acquire(code: "old") { RoomRecord(id: 99, code: "old", name: nil, createdAt: .now()) })
        #expect(old.historyIfUntouched() == nil)
    }

    /// A message committed into the code between the insert and the room going live reached no room: the
    /// first `welcome` must read it from storage.
    @Test(.timeLimit(.minutes(1))) func aCommitThatWentByWhileOpeningIsReadFromStorage() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        let registry = RoomRegistry(feed: RoomFeed(store: store, logger: .quiet), metrics: ParleyMetrics())
        let room = try #require(
            try await registry.acquire(code: "raced") {
                let record = try await store.openRoom(code: "raced")
                let message = ChatMessage(id: 1, nick: "poster", text: "early", ts: .now())
                registry.deliver(.stored(message), toRoom: "raced")
                return record
            }
        )
        #expect(room.record.fresh)
        #expect(room.historyIfUntouched() == nil)
    }

    /// Under `synchronous=FULL`, a commit that holds no message (a room opened, a join's session) is written
    /// without a sync, and the connection is back to syncing for the next commit that holds one.
    @Test(.timeLimit(.minutes(1))) func onlyCommitsWithoutAMessageSkipTheSync() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        let statements = Mutex<[String]>([])
        try await store.database.writeWithoutTransaction { db in
            db.trace { event in statements.withLock { $0.append("\(event)") } }
        }
        func commits() -> [(synced: Bool, sql: String)] {
            // Each commit with the setting its connection had when it began.
            var synced = true
            var found: [(Bool, String)] = []
            for sql in statements.withLock({ $0 }) {
                if sql == "PRAGMA synchronous = NORMAL" { synced = false }
                if sql == "PRAGMA synchronous = FULL" { synced = true }
                if sql == "BEGIN IMMEDIATE TRANSACTION" { found.append((synced, "")) }
                if !found.isEmpty, sql.hasPrefix("INSERT") { found[found.count - 1].1 += sql }
            }
            return found
        }

        let room = try await store.openRoom(code: "quiet")
        var session = PendingMessage(roomID: room.id, nick: "ann", text: "", ts: .now(), clientID: nil) { _ in }
        session.author = AuthorKey(SessionSecret.random())
        session.onlySession = true
        let saved = Mutex(false)
        session.completion = { _ in saved.withLock { $0 = true } }
        #expect(store.offer(session))
        while !saved.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        await store.commit([PendingMessage(roomID: room.id, nick: "ann", text: "kept", ts: .now(), clientID: nil) { _ in }])

        let seen = commits()
        let opening = try #require(seen.first { $0.sql.contains("INTO rooms") })
        let joining = try #require(seen.first { $0.sql.contains("INSERT INTO sessions") })
        let posting = try #require(seen.first { $0.sql.contains("INSERT INTO messages") })
        #expect(!opening.synced)
        #expect(!joining.synced)
        #expect(posting.synced)
        let setting = try await store.database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(setting == 2)
    }

    /// An unsynced commit that fails inside its transaction still leaves the connection syncing: SQLite refuses to
    /// change the setting while a transaction is open, so it is set back only after the rollback.
    @Test(.timeLimit(.minutes(1))) func aFailedUnsyncedCommitLeavesTheConnectionSyncing() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        let room = try await store.openRoom(code: "failing")
        // Only on the writer's connection: the session's insert fails and leaves its transaction open.
        try await store.database.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TEMP TRIGGER refuse BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let result = Mutex<AppendResult?>(nil)
        var session = PendingMessage(roomID: room.id, nick: "ann", text: "", ts: .now(), clientID: nil) { outcome in
            result.withLock { $0 = outcome }
        }
        session.author = AuthorKey(SessionSecret.random())
        session.onlySession = true
        await store.commit([session])
        guard case .failed = result.withLock({ $0 }) else {
            Issue.record("the refused session was not a failed commit")
            return
        }
        let setting = try await store.database.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(setting == 2)
    }

    /// The writer's transaction cannot start (another process holds the write lock past the busy timeout): a
    /// stored room still opens, read from the pool, and only a new code fails.
    @Test(.timeLimit(.minutes(1))) func aStoredRoomOpensWhileTheWriterCannotWrite() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        let made = try await store.createRoom(code: "kept", name: nil)
        // Another process's connection that keeps its write transaction open between accesses.
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let other = try DatabaseQueue(path: directory.url.appendingPathComponent("rooms.sqlite").path, configuration: configuration)
        try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        async let stored = store.openRoom(code: "kept")
        async let refused: Bool = {
            do {
                _ = try await store.openRoom(code: "unknown")
                return false
            } catch {
                return true
            }
        }()
        #expect(try await stored.id == made.id)
        #expect(await refused)
        try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        #expect(try await store.openRoom(code: "unknown").fresh)
    }

    /// An open begun without waiting (``RoomRegistry/beginOpen(code:)``, from an event loop): whoever asks
    /// for the code meanwhile waits for that open instead of running one, and an open that found nothing frees
    /// the code.
    @Test(.timeLimit(.minutes(1))) func anOpenBegunOnTheLoopIsTheOneEveryJoinerGets() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let store = try Self.store(directory)
        let registry = RoomRegistry(feed: RoomFeed(store: store, logger: .quiet), metrics: ParleyMetrics())
        #expect(registry.beginOpen(code: "begun"))
        #expect(!registry.beginOpen(code: "begun"))
        #expect(registry.acquireLive(code: "begun") == nil)
        let record = try await store.openRoom(code: "begun")
        async let joiner = registry.acquire(code: "begun") {
            Issue.record("a second open of a code being opened")
            return nil
        }
        try await eventually {
            guard registry.waiters(code: "begun") == 1 else { throw TimedOut() }
        }
        let room = try #require(registry.opened(code: "begun", record: record))
        #expect(try await joiner === room)
        #expect(room.historyIfUntouched() != nil)

        #expect(registry.beginOpen(code: "nothing"))
        #expect(registry.opened(code: "nothing", record: nil) == nil)
        #expect(registry.beginOpen(code: "nothing"))
    }

    /// Many sockets upgraded at once to a code nobody is in: the first opens the room from its event loop
    /// (``ChatConnection/openAtUpgrade(_:)``), the others join that one room, and every member ends up with
    /// the same roster.
    @Test(.timeLimit(.minutes(1))) func aBurstOfConnectsToANewCodeMakesOneRoom() async throws {
        try await withServer(.set(\.ratePerSecond, 0)) { server in
            let joined = try await withThrowingTaskGroup(of: (RawSocket, ServerEvent.Welcome).self) { group in
                for n in 0..<24 { group.addTask { try await server.join("room=burst-new&nick=m\(n)") } }
                var joined: [(RawSocket, ServerEvent.Welcome)] = []
                for try await member in group { joined.append(member) }
                return joined
            }
            let everyone = Set((0..<24).map { "m\($0)" })
            #expect(Set(joined.map(\.1.nick)) == everyone)
            #expect(joined.allSatisfy { $0.1.lastID == 0 && $0.1.history.isEmpty })
            let (last, _) = joined[0]
            try await last.send("everyone is in")
            for (socket, welcome) in joined {
                var roster = Set(welcome.members)
                while true {
                    let event = try await socket.next()
                    if case .join(let nick, _) = event { roster.insert(nick) }
                    if case .message = event { break }
                }
                #expect(roster == everyone, "\(welcome.nick)")
            }
        }
    }

    /// Sockets that close right after their upgrade head, while their new room may still be opening: none
    /// leaves a member or a reference behind, so every room is freed and forgotten.
    @Test(.timeLimit(.minutes(1))) func socketsGoneBeforeTheirRoomOpenedLeaveNothing() async throws {
        try await withServer { server in
            for n in 0..<20 {
                let probe = try await TCPProbe.connect(port: server.port)
                try await probe.send(
                    "GET /ws?room=gone-\(n)&nick=g HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                probe.close()
            }
            let (socket, welcome) = try await server.join("room=gone-0&nick=after")
            #expect(welcome.lastID == 0)
            socket.close()
            try await RoomChurnTests.roomsSettle(server)
            #expect(try RoomChurnTests.storedRooms(server) == [])
        }
    }

    /// The writer cannot write (another process holds the lock past the busy timeout), so the open an upgrade
    /// asked for fails: a stored room is still joined with its history, read as ``ChatConnection/start`` reads
    /// it, and a new code is refused with `unavailable` and 1011, then opens once the lock is gone. The `101`
    /// goes out with the `welcome` or the refusal, once the writer has answered: not before its busy timeout.
    @Test(.timeLimit(.minutes(2))) func anOpenTheUpgradeAskedForThatFailsFallsBackToStorage() async throws {
        let directory = try TemporaryDirectory(prefix: "parley-room-opening")
        let path = directory.url.appendingPathComponent("rooms.sqlite").path
        try await withServer(at: path) { server in
            let (socket, _) = try await server.join("room=kept&nick=ann")
            try await socket.send("before the lock")
            _ = try await socket.nextMessage()
        }
        try await withServer(at: path, timeout: .seconds(90)) { server in
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: path, configuration: configuration)
            try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let start = ContinuousClock.now
            async let stored = server.join("room=kept&nick=bob")
            async let refused: (Duration, ErrorCode, UInt16?) = {
                let socket = try await server.connect("room=new&nick=cy")
                let upgraded = ContinuousClock.now - start
                return (upgraded, try await socket.nextError(), try await socket.closeCode())
            }()
            #expect(try await stored.1.history.map(\.text) == ["before the lock"])
            let (upgraded, code, close) = try await refused
            #expect(code == .unavailable && close == 1011)
            #expect(upgraded >= StorageDeadline.call - .milliseconds(500), "upgraded after \(upgraded)")
            try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
            let (_, fresh) = try await server.join("room=new&nick=cy")
            #expect(fresh.history.isEmpty && fresh.members == ["cy"])
        }
    }
}
