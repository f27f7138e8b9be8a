import Foundation
import GRDB
import ParleyProtocol
import ParleyTestSupport
import Testing

/// Open rooms cost nothing until used (contract §8, version 2): an open room with no stored message is
/// forgotten when its last member leaves, on one node and across nodes.
@Suite struct RoomChurnTests {
    struct NotYet: Error {}

    /// Rooms stored in the test server's SQLite file.
    static func storedRooms(_ server: TestServer) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: server.databasePath, configuration: configuration)
        return try database.read { db in try String.fetchAll(db, sql: "SELECT code FROM rooms ORDER BY code") }
    }

    /// Sessions stored in the test server's SQLite file (§11: saved when a member joins).
    static func storedSessions(_ server: TestServer) throws -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: server.databasePath, configuration: configuration)
        return try database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sessions") ?? 0 }
    }

    /// Waits until no room is live or being forgotten.
    static func roomsSettle(_ server: TestServer) async throws {
        try await eventually {
            let metrics = try await server.http("GET", "/metrics").body
            let gauge = metrics.split(separator: "\n").first { $0.hasPrefix("parley_rooms_in_memory ") }
            guard let value = gauge?.split(separator: " ").last, Double(value) == 0 else { throw NotYet() }
        }
    }

    @Test func connectingToNewCodesLeavesNothingOnDisk() async throws {
        try await withServer { server in
            for n in 0..<40 {
                let (socket, welcome) = try await server.join("room=churn-\(n)&nick=drive-by")
                #expect(welcome.lastID == 0)
                socket.close()
            }
            // A second member keeps it live while the first leaves.
            let (first, _) = try await server.join("room=shared&nick=a")
            let (second, _) = try await server.join("room=shared&nick=b")
            first.close()
            _ = try await second.next { event in
                if case .leave = event { return true }
                return nil
            }
            // The drive-by rooms are forgotten by a worker, after their members left.
            try await eventually {
                guard try Self.storedRooms(server) == ["shared"] else { throw NotYet() }
            }
            second.close()
            try await Self.roomsSettle(server)
            #expect(try Self.storedRooms(server) == [])
            // The sessions its members were given go with a forgotten room.
            #expect(try Self.storedSessions(server) == 0)
            #expect(try await server.http("GET", "/api/rooms/churn-0").status == 404)
            // The code opens again as new.
            let (again, welcome) = try await server.join("room=churn-0&nick=back")
            #expect(welcome.lastID == 0 && welcome.members == ["back"])
            again.close()
        }
    }

    @Test func aRoomWithAMessageAndAnAPIRoomStay() async throws {
        try await withServer { server in
            let (writer, _) = try await server.join("room=used&nick=w")
            try await writer.sendConfirmed(1)
            writer.close()
            let created = try await server.http("POST", "/api/rooms", body: "{}")
            let code = try #require(created.json["code"] as? String)
            let (visitor, _) = try await server.join("room=\(code)&nick=v")
            visitor.close()
            try await Self.roomsSettle(server)
            #expect(Set(try Self.storedRooms(server)) == [code, "used"])
            let (back, welcome) = try await server.join("room=used&nick=w")
            #expect(welcome.history.map(\.text) == ["m1"] && welcome.lastID == 1)
            back.close()
            #expect(try await server.http("GET", "/api/rooms/\(code)").status == 200)
        }
    }

    /// A forgotten room's id is never given to another room: a request that still holds it must not reach
    /// a new room.
    @Test func aForgottenRoomsIDIsNotReused() async throws {
        try await withServer { server in
            let (socket, _) = try await server.join("room=first&nick=a")
            socket.close()
            try await Self.roomsSettle(server)
            let (other, _) = try await server.join("room=second&nick=b")
            var configuration = Configuration()
            configuration.readonly = true
            let database = try DatabaseQueue(path: server.databasePath, configuration: configuration)
            let (id, floor) = try await database.read { db in
                (
                    try Int64.fetchOne(db, sql: "SELECT id FROM rooms WHERE code = 'second'"),
                    try Int64.fetchOne(db, sql: "SELECT forgotten FROM parley_room_ids")
                )
            }
            #expect(try #require(id) > (try #require(floor)) && floor == 1)
            other.close()
        }
    }
}

/// The same on PostgreSQL, with members of one room on two nodes.
@Suite(
    .serialized,
    .enabled(
        if: TestPostgres.url != nil,
        "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"
    )
)
struct ClusterRoomChurnTests {
    @Test func anOpenRoomIsForgottenOnlyWhenEmptyOnEveryNode() async throws {
        try await withTimeout(.seconds(60)) {
            let url = try #require(TestPostgres.url)
            let nodes = [try await ChildServer.start(database: url), try await ChildServer.start(database: url)]
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let (a, b) = (nodes[0].server, nodes[1].server)
            let prefix = "pg\(UUID().uuidString.prefix(8).lowercased())"
            for n in 0..<20 {
                let (socket, _) = try await a.join("room=\(prefix)-\(n)&nick=drive-by")
                socket.close()
            }
            // Members on both nodes; the one on A leaves, B's keeps the room.
            let room = "\(prefix)-shared"
            let (onA, _) = try await a.join("room=\(room)&nick=a")
            let (onB, _) = try await b.join("room=\(room)&nick=b")
            onA.close()
            _ = try await onB.next { event in
                if case .leave = event { return true }
                return nil
            }
            try await RoomChurnTests.roomsSettle(a)
            #expect(try await a.http("GET", "/api/rooms/\(room)").status == 200)
            onB.close()
            try await eventually {
                guard try await a.http("GET", "/api/rooms/\(room)").status == 404 else { throw RoomChurnTests.NotYet() }
            }
            for n in 0..<20 {
                try await eventually {
                    guard try await b.http("GET", "/api/rooms/\(prefix)-\(n)").status == 404 else { throw RoomChurnTests.NotYet() }
                }
            }
            // A room with a message stays once everyone has gone.
            let (writer, _) = try await b.join("room=\(prefix)-used&nick=w")
            try await writer.sendConfirmed(1)
            writer.close()
            try await RoomChurnTests.roomsSettle(b)
            let (back, welcome) = try await a.join("room=\(prefix)-used&nick=w")
            #expect(welcome.history.map(\.text) == ["m1"])
            back.close()
        }
    }
}
