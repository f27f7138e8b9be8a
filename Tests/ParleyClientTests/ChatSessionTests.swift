import Foundation
import ParleyClient
import ParleyProtocol
import ParleyTestSupport
import Testing

/// A ``ChatSession`` over real sockets, against the real server.
@Suite struct ChatSessionTests {
    @Test func aLineIsSentAcknowledgedAndAnswered() async throws {
        try await withServer { server in
            let (bob, _) = try await server.join("room=talk&nick=bob")
            let (lines, typed) = AsyncStream.makeStream(of: ChatInput.self)
            let (outputs, shown) = AsyncStream.makeStream(of: ChatOutput.self)
            let configuration = ChatSessionConfiguration(
                endpoint: try ChatEndpoint(parsing: "ws://127.0.0.1:\(server.port)"),
                room: "talk",
                nick: "alice"
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await ChatSession(configuration: configuration, logger: .quiet).run(input: lines) { shown.yield($0) }
                    shown.finish()
                }
                typed.yield(.say("hello bob"))
                #expect(try await bob.nextMessage().text == "hello bob")
                try await bob.send("hello alice")
                var seen: [String: Bool] = [:]
                for await output in outputs {
                    guard case .message(let message, let own) = output else { continue }
                    seen[message.text] = own
                    if seen.count == 2 { break }
                }
                #expect(seen == ["hello bob": true, "hello alice": false])
                typed.yield(.quit)
                try await group.waitForAll()
            }
        }
    }
}
