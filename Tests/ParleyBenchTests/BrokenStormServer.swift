import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ParleyTestSupport
import Synchronization

/// A chat server that speaks just enough of the protocol for `parley bench --storm` and `--failover` (`welcome`
/// with nick, session, history and `last_id`; `since` and `session` on reconnection; messages numbered per room;
/// `client_id` resends answered to the sender alone) and gets resuming wrong on purpose. Its "restart" closes
/// every connection; the rooms and their messages stay.
///
/// With several nodes (``runNodes(_:nodes:_:)``), each listens on its own port and all share the rooms, as a
/// cluster's nodes share a database. A node killed stores the next message one of its members sends, delivers
/// it to the other nodes' members only, and then drops every connection and refuses new ones: the sender never
/// sees its message back, as when a node dies between the commit and the echo.
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
        /// A killed node's last message is stored but never reaches the other nodes' members, as if its
        /// notification died with it (no effect without a kill).
        case losesTheLastMessageOfADeadNode
        /// A resuming client gets a `welcome` without the messages it missed (so it is still behind while
        /// the storm waits), then close 1008 with the reason "resume refused".
        case closesAfterResume
    }

    /// Runs the server on 127.0.0.1, port 0, for the duration of `body`, which gets the port and the restart.
    static func run(_ fault: Fault, _ body: @escaping @Sendable (Int, @escaping @Sendable () async -> Void) async throws -> Void) async throws {
        try await runNodes(fault, nodes: 1) { ports, rooms in
            try await body(ports[0]) {
                for writer in rooms.everyone() { try? await writer.close(.goingAway, reason: "restart") }
            }
        }
    }

    /// Runs `nodes` nodes sharing their rooms, each on its own port, for the duration of `body`, which gets
    /// the ports and kills a node by its index. The kill takes effect once four messages are stored: on a
    /// loaded machine a kill at a fixed time could come before any traffic, and a fault in what a resume
    /// repeats or skips would have nothing to show.
    static func runNodes(
        _ fault: Fault,
        nodes: Int,
        kill body: @escaping @Sendable ([Int], @escaping @Sendable (Int) -> Void) async throws -> Void
    ) async throws {
        try await runNodes(fault, nodes: nodes) { ports, rooms in
            try await body(ports) { node in rooms.kill(node, afterMessages: 4) }
        }
    }

    private static func runNodes(_ fault: Fault, nodes: Int, _ body: @escaping @Sendable ([Int], Rooms) async throws -> Void) async throws {
        let rooms = Rooms(fault: fault)
        try await withThrowingTaskGroup(of: Void.self) { group in
            var ports: [Int] = []
            for node in 0..<nodes {
                let (portStream, portSink) = AsyncStream.makeStream(of: Int.self)
                let app = application(node: node, rooms: rooms) { portSink.yield($0) }
                group.addTask { try await app.runService() }
                var iterator = portStream.makeAsyncIterator()
                guard let port = await iterator.next() else { return }
                ports.append(port)
            }
            try await body(ports, rooms)
            group.cancelAll()
        }
    }

    private static func application(node: Int, rooms: Rooms, bound: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/ws") { inbound, outbound, context in
            let query = context.request.uri.queryParameters
            guard
                let (member, welcome) = rooms.join(
                    node: node,
                    room: query["room"].map(String.init) ?? "lobby",
                    nick: query["nick"].map(String.init) ?? "guest",
                    since: query["since"].flatMap { Int64(String($0)) },
                    session: query["session"].map(String.init),
                    outbound
                )
            else { return }
            defer { rooms.leave(member) }
            try await outbound.write(.text(welcome))
            if rooms.fault == .closesAfterResume, query["since"] != nil {
                try await outbound.close(.policyViolation, reason: "resume refused")
                return
            }
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case .text(let text) = message, let command = try? JSONDecoder().decode(Command.self, from: Data(text.utf8)) else {
                    continue
                }
                let (frame, members, dead) = rooms.message(command.text, clientID: command.clientID, from: member)
                for writer in members { try? await writer.write(.text(frame)) }
                for writer in dead { try? await writer.close(.goingAway, reason: "node killed") }
            }
        }
        return Application(
            router: Router(),
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in bound(channel.localAddress?.port ?? 0) },
            logger: .quiet
        )
    }

    private struct Command: Decodable {
        var text: String
        var clientID: String?

        enum CodingKeys: String, CodingKey {
            case text
            case clientID = "client_id"
        }
    }

    private final class Rooms: Sendable {
        private struct Message {
            var id: Int64
            var nick: String
            var text: String
            var clientID: String?

            var object: String {
                #"{"id":\#(id),"nick":"\#(nick)","text":"\#(text)","ts":"2026-11-22T10:00:00.000Z""#
                    + (clientID.map { #","client_id":"\#($0)""# } ?? "") + "}"
            }
        }

        private struct Member {
            var node: Int
            var room: String
            var nick: String
            var writer: WebSocketOutboundWriter
        }

        private enum Health {
            case alive, dying, dead
        }

        private struct State {
            var messages: [String: [Message]] = [:]
            var members: [Int: Member] = [:]
            var nextMember = 0
            var nodes: [Int: Health] = [:]
            /// A node to kill once this many messages are stored.
            var pendingKill: (node: Int, afterMessages: Int)?
            var stored = 0

            /// Marks the pending kill's node dying once enough messages are stored.
            mutating func killIfDue() {
                guard let kill = pendingKill, stored >= kill.afterMessages else { return }
                nodes[kill.node] = .dying
                pendingKill = nil
            }
        }

        let fault: Fault
        private let state = Mutex(State())

        init(fault: Fault) {
            self.fault = fault
        }

        /// Adds a member; returns its number and its `welcome`, or `nil` on a dead node.
        func join(
            node: Int,
            room: String,
            nick asked: String,
            since: Int64?,
            session: String?,
            _ writer: WebSocketOutboundWriter
        ) -> (Int, String)? {
            state.withLock { state in
                guard state.nodes[node, default: .alive] != .dead else { return nil }
                // Sessions are "ROOM/NICK": a resuming client gets its nick back (unless the fault says otherwise).
                var nick = session.flatMap { $0.split(separator: "/").last.map(String.init) } ?? asked
                if fault == .losesNicks, since != nil { nick += "-2" }
                state.nextMember += 1
                state.members[state.nextMember] = Member(node: node, room: room, nick: nick, writer: writer)
                let messages = state.messages[room, default: []]
                var history: [Message]
                if let since {
                    history = messages.filter { $0.id > since }
                    switch fault {
                    case .skipsAnIDInHistory where !history.isEmpty: history.removeFirst()
                    case .repeatsTheLastSeenID: history = messages.filter { $0.id >= since }
                    case .closesAfterResume: history = []
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

        /// Stores a message (or finds the one with its `client_id`); returns its event, who gets it, and the
        /// connections to drop when the sender's node was dying.
        func message(_ text: String, clientID: String?, from member: Int) -> (String, [WebSocketOutboundWriter], [WebSocketOutboundWriter]) {
            state.withLock { state in
                guard let sender = state.members[member] else { return ("", [], []) }
                guard state.nodes[sender.node, default: .alive] != .dead else { return ("", [], []) }
                if let clientID, let original = state.messages[sender.room]?.first(where: { $0.clientID == clientID }) {
                    return (#"{"type":"message","# + original.object.dropFirst(), [sender.writer], [])
                }
                let message = Message(id: (state.messages[sender.room]?.last?.id ?? 0) + 1, nick: sender.nick, text: text, clientID: clientID)
                state.messages[sender.room, default: []].append(message)
                state.stored += 1
                defer { state.killIfDue() }
                let event = #"{"type":"message","# + message.object.dropFirst()
                let room = state.members.values.filter { $0.room == sender.room }
                guard state.nodes[sender.node, default: .alive] == .dying else { return (event, room.map(\.writer), []) }
                state.nodes[sender.node] = .dead
                let doomed = state.members.values.filter { $0.node == sender.node }.map(\.writer)
                let others = fault == .losesTheLastMessageOfADeadNode ? [] : room.filter { $0.node != sender.node }
                return (event, others.map(\.writer), doomed)
            }
        }

        /// The node dies at the next message one of its members sends once `afterMessages` are stored.
        func kill(_ node: Int, afterMessages: Int) {
            state.withLock { state in
                state.pendingKill = (node, afterMessages)
                state.killIfDue()
            }
        }

        func everyone() -> [WebSocketOutboundWriter] {
            state.withLock { $0.members.values.map(\.writer) }
        }
    }
}
