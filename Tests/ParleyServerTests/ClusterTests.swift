// Over 300 lines: the cluster scenarios are one `.serialized` suite because they share one PostgreSQL and
// the start, stop and restart of its server (pgctl below); a split wants those in ParleyTestSupport first.
import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

/// The throwaway PostgreSQL scripts/test starts.
private let clusterDatabaseURL = TestPostgres.url

/// Several `parley serve` processes on one real PostgreSQL (started by scripts/test): one order of ids,
/// one member list, node loss and a database outage.
@Suite(.serialized, .enabled(if: clusterDatabaseURL != nil, "needs PARLEY_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct ClusterTests {
    /// Starts `count` nodes on the test database.
    func nodes(_ count: Int, _ extra: [String] = []) async throws -> [ChildServer] {
        var nodes: [ChildServer] = []
        for _ in 0..<count {
            nodes.append(try await ChildServer.start(database: try #require(clusterDatabaseURL), extra))
        }
        return nodes
    }

    func room() -> String { "c\(UUID().uuidString.prefix(8).lowercased())" }

    @Test(arguments: [2, 3])
    func everyReceiverOnEveryNodeSeesOneContiguousOrder(nodeCount: Int) async throws {
        try await withTimeout(.seconds(90)) {
            let nodes = try await nodes(nodeCount)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let room = room()
            var receivers: [(RawSocket, Int64)] = []
            var senders: [RawSocket] = []
            for (index, node) in nodes.enumerated() {
                let (receiver, welcome) = try await node.server.join("room=\(room)&nick=r\(index)")
                receivers.append((receiver, welcome.lastID))
                senders.append(try await node.server.join("room=\(room)&nick=s\(index)").0)
            }
            let perSender = 150
            let total = perSender * nodeCount
            let orders = try await withThrowingTaskGroup(of: [ChatMessage].self) { group in
                for (index, sender) in senders.enumerated() {
                    group.addTask {
                        for n in 0..<perSender { try await sender.send("node \(index) message \(n)") }
                        return []
                    }
                }
                for (receiver, lastID) in receivers {
                    group.addTask {
                        var seen: [ChatMessage] = []
                        while seen.count < total {
                            let message = try await receiver.nextMessage()
                            #expect(message.id > lastID)
                            seen.append(message)
                        }
                        return seen
                    }
                }
                var orders: [[ChatMessage]] = []
                for try await order in group where !order.isEmpty { orders.append(order) }
                return orders
            }
            let first = try #require(orders.first)
            let start = try #require(first.first?.id)
            #expect(first.map(\.id) == Array(start..<start + Int64(total)))
            for order in orders.dropFirst() {
                #expect(order.map(\.id) == first.map(\.id))
                #expect(order.map(\.text) == first.map(\.text))
            }
            #expect(Set(first.map(\.text)).count == total)
        }
    }

    /// Members sharing one nick on two nodes get `bob`, `bob-2`, … from the room's one counter; a suffix
    /// someone asked for is passed over, and a freed suffix is not handed out again (the single-node rule).
    @Test func sharedNickSuffixesFollowOneCounterAcrossNodes() async throws {
        try await withTimeout(.seconds(60)) {
            let nodes = try await nodes(2)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let room = room()
            var sockets: [RawSocket] = []
            var nicks: [String] = []
            for index in 0..<8 {
                let (socket, welcome) = try await nodes[index % 2].server.join("room=\(room)&nick=bob")
                sockets.append(socket)
                nicks.append(welcome.nick)
            }
            #expect(nicks == ["bob"] + (2...8).map { "bob-\($0)" })
            let (held, heldWelcome) = try await nodes[0].server.join("room=\(room)&nick=BOB-9")
            #expect(heldWelcome.nick == "BOB-9")
            sockets[1].close()
            _ = try await held.next { if case .leave(let nick, _) = $0, nick == "bob-2" { nick } else { nil } }
            #expect(try await nodes[1].server.join("room=\(room)&nick=Bob").1.nick == "Bob-10")
        }
    }

    @Test func membersNicksTypingAndSessionsSpanNodes() async throws {
        try await withTimeout(.seconds(60)) {
            let nodes = try await nodes(2)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let (a, b) = (nodes[0].server, nodes[1].server)
            let room = room()
            let (alice, aliceWelcome) = try await a.join("room=\(room)&nick=alice")
            #expect(aliceWelcome.members == ["alice"])

            // The same nick on the other node is suffixed, and both lists hold both.
            let (other, otherWelcome) = try await b.join("room=\(room)&nick=Alice")
            #expect(otherWelcome.nick == "Alice-2")
            #expect(otherWelcome.members == ["alice", "Alice-2"])
            #expect(try await alice.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "Alice-2")
            let details = try await a.http("GET", "/api/rooms/\(room)")
            #expect(details.json["members"] as? [String] == ["alice", "Alice-2"])

            // A rename onto a nick held on another node is refused; a free one reaches the other node.
            try await other.send(.nick("ALICE"))
            #expect(try await other.nextError() == .nickTaken)
            try await other.send(.nick("bob"))
            let renamed = try await alice.next { if case .nick(let from, let to, _) = $0 { (from, to) } else { nil } }
            #expect(renamed.0 == "Alice-2" && renamed.1 == "bob")
            try await other.send(.typing)
            #expect(try await alice.next { if case .typing(let nick) = $0 { nick } else { nil } } == "bob")

            // alice's session, presented on node b, takes her nick over: the old socket is closed 4001 and
            // bob sees neither a leave nor a join, only her next message.
            let (moved, movedWelcome) = try await b.join("room=\(room)&nick=zed&session=\(aliceWelcome.session)")
            #expect(movedWelcome.nick == "alice")
            #expect(try await alice.closeCode() == 4001)
            try await moved.send("I moved")
            let next = try await other.next { event -> ServerEvent? in
                switch event {
                case .message, .join, .leave: event
                default: nil
                }
            }
            guard case .message(let message) = next else {
                Issue.record("bob saw \(next) before alice's message")
                return
            }
            #expect(message.nick == "alice" && message.text == "I moved")

            // A leave on one node reaches the other.
            try await other.sendClose()
            #expect(try await moved.next { if case .leave(let nick, _) = $0 { nick } else { nil } } == "bob")
        }
    }

    @Test func killedNodesMembersLeaveAndItsClientsResumeElsewhere() async throws {
        try await withTimeout(.seconds(90)) {
            let nodes = try await nodes(2, ["--node-timeout", "3"])
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let (doomed, survivor) = (nodes[0], nodes[1])
            let room = room()
            let (reader, welcome) = try await doomed.server.join("room=\(room)&nick=reader")
            let (watcher, _) = try await survivor.server.join("room=\(room)&nick=watcher")
            let (writer, _) = try await survivor.server.join("room=\(room)&nick=writer")
            let total = 600
            var received: [Int64] = []
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for n in 0..<total { try await writer.send("flood \(n)") }
                }
                // Kill the reader's node mid-flood.
                while received.count < 200 {
                    received.append(try await reader.nextMessage().id)
                }
                doomed.child.signal(SIGKILL)
                try await group.waitForAll()
            }
            // The dead node's member leaves every list (node timeout 3 s; the contract allows 30).
            let swept = ContinuousClock.now
            #expect(try await watcher.next { if case .leave(let nick, _) = $0 { nick } else { nil } } == "reader")
            #expect(ContinuousClock.now - swept < .seconds(30))

            // The reader resumes on the other node with since + session and misses nothing.
            let last = try #require(received.last)
            let (resumed, again) = try await survivor.server.join("room=\(room)&since=\(last)&session=\(welcome.session)")
            #expect(again.nick == "reader")
            received += again.history.map(\.id)
            while received.count < total {
                received.append(try await resumed.nextMessage().id)
            }
            let start = welcome.lastID + 1
            #expect(received == Array(start..<start + Int64(total)))
        }
    }

    @Test func nothingAcknowledgedIsLostWhenPostgreSQLRestarts() async throws {
        let environment = ProcessInfo.processInfo.environment
        let bin = try #require(environment["PARLEY_TEST_PGBIN"])
        let data = try #require(environment["PARLEY_TEST_PGDATA"])
        try await withTimeout(.seconds(120)) {
            let nodes = try await nodes(2)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let room = room()
            let (watcher, welcome) = try await nodes[1].server.join("room=\(room)&nick=watcher")
            let (writer, _) = try await nodes[0].server.join("room=\(room)&nick=writer")
            let (leaver, _) = try await nodes[0].server.join("room=\(room)&nick=leaver")
            #expect(try await watcher.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "writer")
            #expect(try await watcher.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "leaver")

            /// Sends until the message is stored, resending with the same client_id after an error.
            @Sendable func deliver(_ n: Int) async throws -> Int64 {
                while true {
                    try await writer.send(.message(text: "acked \(n)", clientID: "m\(n)"))
                    let answer = try await writer.next { event -> ServerEvent? in
                        switch event {
                        case .message(let message) where message.clientID == "m\(n)": event
                        case .error(_, _, "m\(n)"): event
                        default: nil
                        }
                    }
                    if case .message(let message) = answer { return message.id }
                    try await Task.sleep(for: .milliseconds(200))  // pacing the resend, not waiting for an event
                }
            }

            var acknowledged: [Int64] = []
            for n in 0..<50 { acknowledged.append(try await deliver(n)) }
            try await pgctl(bin, data, "stop", "-m", "fast")
            // A member that leaves while the database is down cannot be released then; it must still
            // leave every list once the database is back.
            leaver.close()
            // While the database is down: a send is answered with an error (not silence) and a new
            // client is told the storage is unavailable.
            try await writer.send(.message(text: "while down", clientID: "down"))
            #expect(try await writer.nextError() == .unavailable)
            #expect(try await nodes[0].server.http("GET", "/metrics").body.contains("\nparley_storage_healthy 0"))
            // A command that needs storage gets an error too, and the connection stays.
            try await writer.send(.history(before: nil, limit: 10))
            #expect(try await writer.nextError() == .unavailable)
            let refused = try await nodes[1].server.connect("room=\(room)&nick=late")
            #expect(try await refused.nextError() == .unavailable)
            try await pgctl(bin, data, "start", "-l", "\(data)/../server.log")
            // The nodes reconnect by themselves.
            for n in 50..<100 { acknowledged.append(try await deliver(n)) }
            #expect(try await nodes[0].server.http("GET", "/metrics").body.contains("\nparley_storage_healthy 1"))
            #expect(acknowledged == Array(acknowledged[0]..<acknowledged[0] + 100))

            // Every acknowledged message reached the other node's member, once and in order, and the
            // member that left during the outage left its list.
            var seen: [Int64] = []
            var leaverLeft = false
            while seen.last != acknowledged.last || !leaverLeft {
                switch try await watcher.next() {
                case .message(let message) where message.clientID?.hasPrefix("m") == true: seen.append(message.id)
                case .leave(let nick, _) where nick == "leaver": leaverLeft = true
                default: break
                }
            }
            #expect(seen == acknowledged)
            #expect(seen.first == welcome.lastID + 1)
            let (late, lateWelcome) = try await nodes[1].server.join("room=\(room)&nick=late&since=\(welcome.lastID)")
            #expect(lateWelcome.history.filter { $0.clientID?.hasPrefix("m") == true }.map(\.id) == acknowledged)
            late.close()
        }
    }

    /// PostgreSQL drops notices for a listener that is away; a node that listens again makes up the
    /// presence changes it missed from the members table, once each.
    @Test func presenceMissedWhileTheListenerWasAwayIsMadeUp() async throws {
        let bin = try #require(ProcessInfo.processInfo.environment["PARLEY_TEST_PGBIN"])
        try await withTimeout(.seconds(60)) {
            let nodes = try await nodes(2)
            defer { for node in nodes { node.child.signal(SIGKILL) } }
            let room = room()
            let (watcher, _) = try await nodes[1].server.join("room=\(room)&nick=watcher")
            let (leaver, _) = try await nodes[0].server.join("room=\(room)&nick=leaver")
            #expect(try await watcher.next { if case .join(let nick, _) = $0 { nick } else { nil } } == "leaver")

            // Every listener is cut off (the call returns once their backends are gone); a node listens
            // again half a second later, so this leave and join are announced to nobody.
            try await postgresTool(
                bin,
                "psql",
                "-X",
                "-q",
                "-d",
                try #require(clusterDatabaseURL),
                "-c",
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
            )
            try await leaver.sendClose()
            let (newcomer, _) = try await nodes[0].server.join("room=\(room)&nick=newcomer")
            try await newcomer.send(.message(text: "hello", clientID: "hello"))

            var presence: [String] = []
            var sawHello = false
            while presence.count < 2 || !sawHello {
                switch try await watcher.next() {
                case .join(let nick, _): presence.append("join \(nick)")
                case .leave(let nick, _): presence.append("leave \(nick)")
                case .message(let message) where message.clientID == "hello": sawHello = true
                default: break
                }
            }
            #expect(presence.sorted() == ["join newcomer", "leave leaver"])

            // Nothing is announced twice: the next message comes with no presence event before it.
            try await newcomer.send(.message(text: "again", clientID: "again"))
            let next = try await watcher.next { event -> ServerEvent? in
                switch event {
                case .join, .leave: event
                case .message(let message) where message.clientID == "again": event
                default: nil
                }
            }
            guard case .message = next else {
                Issue.record("a presence event came twice: \(next)")
                return
            }
        }
    }

    /// Runs pg_ctl on the test cluster.
    func pgctl(_ bin: String, _ data: String, _ arguments: String...) async throws {
        try await postgresTool(bin, "pg_ctl", ["-D", data, "-w", "-t", "30"] + arguments)
    }

    func postgresTool(_ bin: String, _ program: String, _ arguments: String...) async throws {
        try await postgresTool(bin, program, arguments)
    }

    /// Runs one of PostgreSQL's programs, as the postgres user when the tests run as root.
    func postgresTool(_ bin: String, _ program: String, _ arguments: [String]) async throws {
        var command = ["\(bin)/\(program)"] + arguments
        if getuid() == 0 { command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command }
        let status = try await ChildProcess.run(command[0], Array(command.dropFirst()))
        #expect(status == 0, "\(program) \(arguments.joined(separator: " "))")
    }
}
