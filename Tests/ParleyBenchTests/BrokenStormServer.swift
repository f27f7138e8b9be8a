import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ParleyTestSupport
import Synchronization

/// A chat server that speaks just enough of the protocol for `parley bench --storm` (`welcome` with nick,
/// session, history and `last_id`; `since` and `session` on reconnection; messages numbered per room) and gets
/// resuming wrong on purpose. Its "restart" closes every connection; the rooms and their messages stay.
struct BrokenStormServer {
    enum Fault: String, CaseIterable, Sendable {
        /// None: the fixture itself resumes correctly.
        case none
        /// A resuming client's history leaves out the first id after `since`.
        case skipsAnIDInHistory
        /// A resuming client's history starts at `since` itself, which it already has.
        case repeatsTheLastSeenID
        /// A resuming client gets `NICK-2`, as if its session were not honoured and the nick still taken.
        case losesNicks
    }

    /// Runs the server on 127.0.0.1, port 0, for the duration of `body`, which gets the port and the restart.
    static func run(_ fault: Fault, _ body: @escaping @Sendable (Int, @escaping @Sendable () async -> Void) async throws -> Void) async throws {
        let rooms = Rooms(fault: fault)
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/ws") { inbound, outbound, context in
            let query = context.request.uri.queryParameters
            let (member, welcome) = rooms.join(
                room: query["room"].map(String.init) ?? "lobby",
                nick: query["nick"].map(String.init) ?? "guest",
                since: query["since"].flatMap { Int64(String($0)) },
                session: query["session"].map(String.init),
                outbound
            )
            defer { rooms.leave(member) }
            try await outbound.write(.text(welcome))
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case .text(let command) = message,
                    let text = try? JSONDecoder().decode(Command.self, from: Data(command.utf8)).text
                else { continue }
                let (frame, members) = rooms.message(text, from: member)
                for writer in members { try? await writer.write(.text(frame)) }
            }
        }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) },
            logger: .quiet
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            try await body(port) {
                for writer in rooms.everyone() { try? await writer.close(.goingAway, reason: "restart") }
            }
            group.cancelAll()
        }
    }

    private struct Command: Decodable {
        var text: String
    }

    private final class Rooms: Sendable {
        private struct Message {
            var id: Int64
            var nick: String
            var text: String

            var object: String { #"{"id":\#(id),"nick":"\#(nick)","text":"\#(text)","ts":"2026-11-22T10:00:00.000Z"}"# }
        }

        private struct Member {
            var room: String
            var nick: String
            var writer: WebSocketOutboundWriter
        }

        private struct State {
            var messages: [String: [Message]] = [:]
            var members: [Int: Member] = [:]
            var nextMember = 0
        }

        let fault: Fault
        private let state = Mutex(State())

        init(fault: Fault) {
            self.fault = fault
        }

        /// Adds a member; returns its number and its `welcome`.
        func join(room: String, nick asked: String, since: Int64?, session: String?, _ writer: WebSocketOutboundWriter) -> (Int, String) {
            state.withLock { state in
                // Sessions are "ROOM/NICK": a resuming client gets its nick back (unless the fault says otherwise).
                var nick = session.flatMap { $0.split(separator: "/").last.map(String.init) } ?? asked
                if fault == .losesNicks, since != nil { nick += "-2" }
                state.nextMember += 1
                state.members[state.nextMember] = Member(room: room, nick: nick, writer: writer)
                let messages = state.messages[room, default: []]
                var history: [Message]
                if let since {
                    history = messages.filter { $0.id > since }
                    switch fault {
                    case .skipsAnIDInHistory where !history.isEmpty: history.removeFirst()
                    case .repeatsTheLastSeenID: history = messages.filter { $0.id >= since }
                    default: break
                    }
                } else {
                    history = Array(messages.suffix(50))
                }
                let welcome =
                    #"{"type":"welcome","room":{"code":"\#(room)","name":null,"created_at":"2026-11-22T10:00:00.000Z"},"nick":"\#(nick)","#
                    + #""session":"\#(room)/\#(nick)","members":[],"history":[\#(history.map(\.object).joined(separator: ","))],"#
                    + #""last_id":\#(messages.last?.id ?? 0),"truncated":false}"#
                return (state.nextMember, welcome)
            }
        }

        func leave(_ member: Int) {
            state.withLock { _ = $0.members.removeValue(forKey: member) }
        }

        /// Stores a message; returns its event and the room's members.
        func message(_ text: String, from member: Int) -> (String, [WebSocketOutboundWriter]) {
            state.withLock { state in
                guard let sender = state.members[member] else { return ("", []) }
                let message = Message(id: (state.messages[sender.room]?.last?.id ?? 0) + 1, nick: sender.nick, text: text)
                state.messages[sender.room, default: []].append(message)
                let event = #"{"type":"message","# + message.object.dropFirst()
                return (event, state.members.values.filter { $0.room == sender.room }.map(\.writer))
            }
        }

        func everyone() -> [WebSocketOutboundWriter] {
            state.withLock { $0.members.values.map(\.writer) }
        }
    }
}
