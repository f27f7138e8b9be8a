import Foundation
import Hummingbird
import HummingbirdWebSocket
import ParleyClient
import ParleyProtocol
import ParleyServer
import ParleyTestSupport
import Testing

/// A ``ChatSession`` over real sockets: against the real server, and against a server that closes it with
/// the contract's `replaced` code.
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

    @Test func aCloseWithTheReplacedCodeEndsTheSession() async throws {
        try await withTimeout(.seconds(30)) {
            let router = Router(context: BasicWebSocketRequestContext.self)
            router.ws("/ws") { _, outbound, _ in
                try await outbound.write(
                    .text(
                        #"{"type":"welcome","room":{"code":"r","name":null,"created_at":"2026-01-01T00:00:00.000Z"},"nick":"alice","#
                            + #""session":"s","members":["alice"],"history":[],"last_id":0,"truncated":false}"#
                    )
                )
                try await outbound.close(.init(codeNumber: Int(CloseCode.replaced.rawValue)), reason: "replaced")
            }
            try await withApplication { listening in
                Application(
                    router: Router(),
                    server: .http1WebSocketUpgrade(webSocketRouter: router),
                    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                    onServerRunning: { listening($0.localAddress?.port ?? 0) },
                    logger: .quiet
                )
            } body: { port in
                let configuration = ChatSessionConfiguration(endpoint: try ChatEndpoint(parsing: "ws://127.0.0.1:\(port)"), room: "r", nick: "alice")
                let (lines, _) = AsyncStream.makeStream(of: ChatInput.self)
                let error = await #expect(throws: ChatClientError.self) {
                    try await ChatSession(configuration: configuration, logger: .quiet).run(input: lines) { _ in }
                }
                #expect(error?.kind == .replaced)
                #expect(error?.message == "another client took over this session (close 4001)")
            }
        }
    }
}
