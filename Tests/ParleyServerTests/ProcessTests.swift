import Foundation
import ParleyProtocol
import ParleyTestSupport
import Testing

/// The real `parley` executable: durability across `kill -9`, graceful shutdown, and websocat.
@Suite(.serialized) struct ProcessTests {
    let temporary: TemporaryDirectory
    var directory: URL { temporary.url }

    init() throws {
        temporary = try TemporaryDirectory(prefix: "parley-proc")
    }

    @Test func everyReceivedMessageSurvivesKill9() async throws {
        let database = directory.appendingPathComponent("kill9.sqlite").path
        try await withTimeout(.seconds(90)) {
            var received: [Int64: String] = [:]
            for round in 0..<3 {
                let server = try await ChildServer.start(database: database)
                let (reader, welcome) = try await server.server.join("room=durable&nick=reader")
                let (writer, _) = try await server.server.join("room=durable&nick=writer")
                let stopAfter = welcome.lastID + 150 + Int64(round * 37)
                // Flood until the reader has seen enough, then kill the server mid-stream.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for n in 0..<100_000 {
                            do {
                                try await writer.send("round \(round) message \(n)")
                            } catch {
                                return  // the server is gone
                            }
                        }
                    }
                    while true {
                        let message: ChatMessage
                        do {
                            message = try await reader.nextMessage()
                        } catch {
                            break
                        }
                        received[message.id] = message.text
                        if message.id == stopAfter { server.child.signal(SIGKILL) }
                    }
                    try await group.waitForAll()
                }
                #expect(await server.child.exitStatus() == SIGKILL)
            }
            // Restarted on the same file, history holds every received message under the same id.
            let server = try await ChildServer.start(database: database)
            var stored: [Int64: String] = [:]
            var after: Int64 = 0
            while true {
                let page = try await server.server.http("GET", "/api/rooms/durable/messages?after=\(after)&limit=200")
                let messages = page.json["messages"] as? [[String: Any]] ?? []
                for message in messages {
                    guard let id = message["id"] as? Int, let text = message["text"] as? String else { continue }
                    stored[Int64(id)] = text
                    after = Int64(id)
                }
                if page.json["has_more"] as? Bool != true { break }
            }
            #expect(!received.isEmpty)
            for (id, text) in received {
                #expect(stored[id] == text, "message \(id)")
            }
            #expect(stored.keys.sorted() == Array(1...Int64(stored.count)))
            server.child.signal(SIGKILL)
        }
    }

    @Test func sigtermDeliversQueuedEventsThenCloses1001AndExitsZero() async throws {
        let database = directory.appendingPathComponent("term.sqlite").path
        try await withTimeout(.seconds(60)) {
            let server = try await ChildServer.start(database: database)
            let listener = try await server.server.connect("room=bye&nick=listener", readAutomatically: false)
            let (sender, _) = try await server.server.join("room=bye&nick=sender")
            let count = 300
            for n in 1...count { try await sender.send("queued \(n)") }
            for _ in 1...count { _ = try await sender.nextMessage() }  // all stored and queued for the listener
            // A keep-alive HTTP connection, idle between requests, does not hold the shutdown up.
            let idle = try await TCPProbe.connect(port: server.server.port)
            defer { idle.close() }
            let answered = try await idle.request("GET", "/healthz")
            #expect(answered.status == 200)
            #expect(answered.headers["date"]?.hasSuffix(" GMT") == true)

            let stopping = ContinuousClock.now
            server.child.signal(SIGTERM)
            // Once draining has begun a new upgrade is not served: 503 while the listener is still open,
            // or a refused connection once the drain finished (the queued events fit in socket buffers).
            _ = try await server.child.stderrLine(containing: "draining connections")
            do {
                let late = try await server.server.connect("room=bye&nick=late")
                late.close()
                Issue.record("an upgrade was accepted during shutdown")
            } catch let refusal as RawSocket.Refused {
                #expect(refusal.status == 503 && refusal.body.contains("unavailable"))
            } catch {
                // Connection refused: the HTTP server has already stopped listening.
            }
            _ = listener.channel.setOption(.autoRead, value: true)
            listener.channel.read()
            _ = try await listener.welcome()
            var ids: [Int64] = []
            var closeCode: UInt16?
            do {
                while true {
                    if case .message(let message) = try await listener.next() { ids.append(message.id) }
                }
            } catch RawSocket.Failure.closed(let code, _) {
                closeCode = code
            }
            #expect(ids == Array(1...Int64(count)))
            #expect(closeCode == 1001)
            #expect(await idle.closes(within: .seconds(10)))
            #expect(await server.child.exitStatus() == 0)
            #expect(ContinuousClock.now - stopping < .seconds(10))
        }
    }

    /// With more connections waiting than the open-file limit allows, the listener stops accepting short of the
    /// limit (leaving descriptors for storage and libdispatch) without spinning on `accept`; once sockets are
    /// closed, it accepts again.
    @Test func acceptingStopsShortOfTheOpenFileLimit() async throws {
        let database = directory.appendingPathComponent("files.sqlite").path
        try await withTimeout(.seconds(60)) {
            let limit = 128
            let server = try await ChildServer.start(database: database, ["--event-loops", "1"], openFiles: limit)
            let line = try await server.child.stderrLine(containing: "sockets at a time")
            let capacity = try #require(line.split(separator: " ").compactMap { Int($0) }.first)
            #expect(capacity > 16 && capacity < limit - 64, "\(line)")
            var probes: [TCPProbe] = []
            defer { for probe in probes { probe.close() } }
            // The kernel completes these connections whether or not the server takes them. More than the open-file
            // limit, from three addresses so that none has more than the 64 unfinished sockets it may hold.
            for index in 0..<(limit + 20) {
                probes.append(try await TCPProbe.connect(port: server.port, source: "127.0.0.\(1 + index % 3)"))
            }
            let descriptors = "/proc/\(server.child.pid)/fd"
            func open() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: descriptors).count }
            // Storage and the listener hold the rest (counted at start, so a few may have closed since); sockets
            // past the capacity wait in the backlog.
            while try open() < limit - 72 { try await Task.sleep(for: .milliseconds(20)) }
            // With every descriptor taken, libdispatch's worker-pool check (which reads /proc) stopped the process,
            // about one run in 25 under ulimit -n 64. Retrying accept at once would take a whole CPU; held off, the
            // listener takes next to none (under 0.1 s here, 0.4 s at most seen under the whole test run's load).
            let before = try Self.cpuSeconds(server.child.pid)
            var most = 0
            for _ in 0..<40 {
                most = max(most, try open())
                try await Task.sleep(for: .milliseconds(50))
            }
            let spent = try Self.cpuSeconds(server.child.pid) - before
            #expect(most <= limit - 32, "the server held \(most) of its \(limit) descriptors")
            #expect(spent < 0.8, "the server used \(spent) s of CPU in two seconds at its capacity")

            for probe in probes { probe.close() }
            probes = []
            let late = try await TCPProbe.connect(port: server.port)
            defer { late.close() }
            #expect(try await late.request("GET", "/healthz").status == 200)
            server.child.signal(SIGTERM)
            #expect(await server.child.exitStatus() == 0)
        }
    }

    /// User and system CPU time of a process, from `/proc/PID/stat`.
    static func cpuSeconds(_ pid: pid_t) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name, which is in parentheses and may hold spaces.
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the line, 12 and 13 of what follows the name.
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func websocatInTheFirstSeedsFlow() async throws {
        let websocat = try #require(
            ["/usr/local/bin/websocat", "/usr/bin/websocat"].first { FileManager.default.isExecutableFile(atPath: $0) }
                ?? ChildProcess.onPath("websocat"),
            "websocat is not installed (scripts/install-test-deps installs it)"
        )
        let database = directory.appendingPathComponent("websocat.sqlite").path
        try await withTimeout(.seconds(60)) {
            let server = try await ChildServer.start(database: database)
            let url = "ws://127.0.0.1:\(server.port)/ws?roomCode=room1"
            let second = try await ChildProcess(websocat, ["-t", url])
            _ = try await second.stdoutLine(containing: #""type":"welcome""#)
            let first = try await ChildProcess(websocat, ["-t", url])
            _ = try await first.stdoutLine(containing: #""type":"welcome""#)
            first.write(#"{"Author": "client 1", "Content": "content1"}"#)
            let line = try await second.stdoutLine(containing: #""type":"message""#)
            let event = try JSONDecoder().decode(ServerEvent.self, from: Data(line.utf8))
            guard case .message(let message) = event else { throw RawSocket.Failure.unexpected(line) }
            #expect(message.text == "content1" && message.id == 1)
            first.write("plain text from websocat")
            let plain = try await second.stdoutLine(containing: "plain text from websocat")
            #expect(plain.contains(#""id":2"#))
            first.signal(SIGKILL)
            second.signal(SIGKILL)
            server.child.signal(SIGKILL)
        }
    }
}
