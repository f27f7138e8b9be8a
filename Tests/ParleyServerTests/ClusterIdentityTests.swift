import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

/// Signed identities across nodes (§13 on PostgreSQL): a subject's connections on several nodes are one
/// member with one nick, and its nick is reserved on every node.
@Suite(.serialized, .enabled(if: TestPostgres.url != nil, "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct ClusterIdentityTests {
    func nodes(_ count: Int) async throws -> [ChildServer] {
        var nodes: [ChildServer] = []
        for _ in 0..<count {
            nodes.append(try await ChildServer.start(database: try #require(TestPostgres.url), ["--auth-secret", IdentityTests.secret]))
        }
        return nodes
    }

    static func members(_ node: TestServer, _ room: String) async throws -> [String]? {
        try await node.http("GET", "/api/rooms/\(room)").json["members"] as? [String]
    }

    @Test func aSubjectOnTwoNodesIsOneMemberWithOneNick() async throws {
        try await withTimeout(.seconds(90)) {
            let nodes = try await nodes(2)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let (a, b) = (nodes[0].server, nodes[1].server)
            let room = "i\(UUID().uuidString.prefix(8).lowercased())"
            let (bob, _) = try await a.join("room=\(room)&nick=bob")
            let token = try await IdentityTests.token(sub: "dana-id", nick: "dana")
            let (phone, _) = try await a.join("room=\(room)&auth=\(token)")
            #expect(try await bob.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "dana")

            // The same subject on node b shares the nick; an anonymous client there asking for it is suffixed.
            let (laptop, welcome) = try await b.join("room=\(room)&auth=\(token)")
            #expect(welcome.nick == "dana" && welcome.members == ["bob", "dana"] && welcome.verifiedMembers == ["dana"])
            let (anon, anonWelcome) = try await b.join("room=\(room)&nick=DANA")
            #expect(anonWelcome.nick == "DANA-2")
            #expect(try await Self.members(a, room) == ["bob", "dana", "DANA-2"])

            // Messages from either connection are the subject's; bob heard one join for dana, then DANA-2's.
            try await laptop.send(.message(text: "from the laptop", clientID: "l1"))
            let seen = try await bob.next { event -> ServerEvent? in
                switch event {
                case .message, .join, .leave: event
                default: nil
                }
            }
            guard case .join(let joined, _) = seen else { throw RawSocket.Failure.unexpected("\(seen) before DANA-2's join") }
            #expect(joined == "DANA-2")
            let message = try await bob.nextMessage()
            #expect(message.nick == "dana" && message.verified == true)

            // The phone (holding the row) goes: dana stays, listed once, and nobody hears a leave.
            try await phone.sendClose()
            _ = try await phone.closeCode()
            try await laptop.send(.message(text: "still here", clientID: "l2"))
            let next = try await bob.next { event -> ServerEvent? in
                switch event {
                case .message, .join, .leave: event
                default: nil
                }
            }
            guard case .message(let still) = next else { throw RawSocket.Failure.unexpected("bob saw \(next) before dana's message") }
            #expect(still.text == "still here")
            #expect(try await Self.members(b, room) == ["bob", "dana", "DANA-2"])
            // The laptop is not closed as replaced, and its going is dana's leave.
            laptop.close()
            #expect(try await bob.next { if case .leave(let nick, _) = $0 { nick } else { nil } } == "dana")
            #expect(try await Self.members(a, room) == ["bob", "DANA-2"])
            for socket in [bob, anon] { socket.close() }
        }
    }
}
