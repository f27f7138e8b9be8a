import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

/// Room owners across nodes (§12 on PostgreSQL): a kick or a ban given on one node closes the member on
/// another, a ban refuses the client on every node, and setting changes reach members everywhere.
@Suite(.serialized, .enabled(if: TestPostgres.url != nil, "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct ClusterOwnerTests {
    func nodes(_ count: Int) async throws -> [ChildServer] {
        var nodes: [ChildServer] = []
        for _ in 0..<count {
            nodes.append(try await ChildServer.start(database: try #require(TestPostgres.url), ["--trusted-proxy", "127.0.0.0/8"]))
        }
        return nodes
    }

    static func from(_ address: String) -> [(String, String)] { [("X-Forwarded-For", address)] }

    @Test func kickAndBanOnOneNodeCloseAndRefuseOnEvery() async throws {
        try await withTimeout(.seconds(90)) {
            let nodes = try await nodes(2)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let (here, there) = (nodes[0].server, nodes[1].server)
            let created = try await here.http("POST", "/api/rooms", body: "{}")
            let code = try #require(created.json["code"] as? String)
            let key = try #require(created.json["owner_key"] as? String)

            let owner = try await there.connect("room=\(code)&nick=olga&key=\(key)", headers: Self.from("10.0.0.1"))
            #expect(try await owner.welcome().role == .owner)
            let member = try await here.connect("room=\(code)&nick=mia", headers: Self.from("10.0.0.2"))
            _ = try await member.welcome()

            // Settings changed on one node reach members on the other.
            try await owner.send(.room(RoomChange(topic: .some("across"), slowMode: 5)))
            let info = try await member.next { event -> RoomInfo? in
                if case .room(let info) = event { return info }
                return nil
            }
            #expect(info.topic == "across" && info.slowMode == 5)

            // A kick on the owner's node closes the member on the other.
            let kicked = try await here.connect("room=\(code)&nick=kim", headers: Self.from("10.0.0.3"))
            _ = try await kicked.welcome()
            try await eventually {
                try await owner.send(.kick(nick: "kim"))
                try await Self.expectClosed(kicked)
            }

            // A ban likewise, and then neither node lets the banned session or address in.
            let troll = try await here.connect("room=\(code)&nick=troll", headers: Self.from("10.0.0.66"))
            let session = try await troll.welcome().session
            try await owner.send(.ban(nick: "troll", seconds: nil))
            #expect(try await troll.closeCode() == CloseCode.kicked.rawValue)
            for node in [here, there] {
                try await eventually {
                    let bySession = try await refused { try await node.connect("room=\(code)&session=\(session)", headers: Self.from("10.0.0.99")) }
                    #expect(bySession.status == 403)
                    let byAddress = try await refused { try await node.connect("room=\(code)", headers: Self.from("10.0.0.66")) }
                    #expect(byAddress.status == 403)
                }
            }
            try await owner.send(.bans)
            let bans = try await owner.next { event -> [BanInfo]? in
                if case .bans(let list) = event { return list }
                return nil
            }
            #expect(bans.map(\.nick) == ["troll"])
        }
    }

    static func expectClosed(_ socket: RawSocket) async throws {
        guard let frame = try await socket.frame(within: .milliseconds(500)) else { throw RawSocket.Failure.unexpected("still open") }
        if frame.opcode != 0x8 { return try await expectClosed(socket) }
        #expect(frame.closeCode == CloseCode.kicked.rawValue)
    }
}
