import Foundation
import Hummingbird
import HummingbirdWebSocket
import ParleyTestSupport
import Synchronization

/// A chat server that speaks just enough of the protocol for `parley bench` (a `welcome`, then every message
/// echoed to every member of its room with an id) and gets one id wrong on purpose.
struct BrokenServer {
    /// The mistake, made once, at the ``faultyMessage``-th message of each room.
    enum Fault: String, CaseIterable, Sendable {
        /// Ids 1, 2, 3, 4, 6, …: id 5 is never used.
        case skipsAnID
        /// Ids 1, 2, 3, 4, 4, 5, …: the fifth message gets id 4 again.
        case repeatsAnID
        /// Ids 1, 2, 3, 4, 6, 5, 7, …: the fifth message (id 5) goes out after the sixth.
        case swapsTwoIDs
    }

    static let faultyMessage = 5

    /// Runs the server on 127.0.0.1, port 0, for the duration of `body`. With `welcomes` false it accepts
    /// connections but never sends `welcome`.
    static func run(_ fault: Fault, welcomes: Bool = true, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let rooms = Rooms(fault: fault)
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/ws") { inbound, outbound, context in
            let room = context.request.uri.queryParameters["room"].map(String.init) ?? "lobby"
            let member = rooms.join(room, outbound)
            defer { rooms.leave(room, member) }
            guard welcomes else {
                for try await _ in inbound {}
                return
            }
            try await outbound.write(.text(#"{"type":"welcome","nick":"m","members":[],"history":[],"last_id":0}"#))
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case .text(let command) = message,
                    let text = try? JSONDecoder().decode(Command.self, from: Data(command.utf8)).text
                else { continue }
                let (frames, members) = rooms.message(text, in: room)
                for member in members {
                    for frame in frames { try? await member.write(.text(frame)) }
                }
            }
        }
        try await withApplication { listening in
            Application(
                router: Router(),
                server: .http1WebSocketUpgrade(webSocketRouter: router),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in listening(channel.localAddress?.port ?? 0) },
                logger: .quiet
            )
        } body: { port in
            try await body(port)
        }
    }

    private struct Command: Decodable {
        var text: String
    }

    /// Every room's members and id counter. Each room has one publisher, whose messages arrive one at a time.
    private final class Rooms: Sendable {
        private struct Room {
            var members: [Int: WebSocketOutboundWriter] = [:]
            var messages = 0
            var lastID: Int64 = 0
            var held: Int64?
            var heldText = ""
        }

        private struct State {
            var rooms: [String: Room] = [:]
            var nextMember = 0
        }

        let fault: Fault
        private let state = Mutex(State())

        init(fault: Fault) {
            self.fault = fault
        }

        func join(_ code: String, _ writer: WebSocketOutboundWriter) -> Int {
            state.withLock { state in
                state.nextMember += 1
                state.rooms[code, default: Room()].members[state.nextMember] = writer
                return state.nextMember
            }
        }

        func leave(_ code: String, _ member: Int) {
            state.withLock { _ = $0.rooms[code]?.members.removeValue(forKey: member) }
        }

        /// The frames to send for one message, in order, and to whom.
        func message(_ text: String, in code: String) -> ([String], [WebSocketOutboundWriter]) {
            state.withLock { state in
                var room = state.rooms[code, default: Room()]
                defer { state.rooms[code] = room }
                room.messages += 1
                var frames: [String] = []
                let faulty = room.messages == BrokenServer.faultyMessage
                switch fault {
                case .skipsAnID where faulty:
                    room.lastID += 2
                    frames.append(Self.frame(id: room.lastID, text: text))
                case .repeatsAnID where faulty:
                    frames.append(Self.frame(id: room.lastID, text: text))
                case .swapsTwoIDs where faulty:
                    room.lastID += 1
                    room.held = room.lastID
                    room.heldText = text
                default:
                    room.lastID += 1
                    frames.append(Self.frame(id: room.lastID, text: text))
                    if let held = room.held {
                        frames.append(Self.frame(id: held, text: room.heldText))
                        room.held = nil
                    }
                }
                return (frames, Array(room.members.values))
            }
        }

        private static func frame(id: Int64, text: String) -> String {
            #"{"type":"message","id":\#(id),"nick":"m","text":"\#(text)","ts":"2026-11-22T10:00:00.000Z"}"#
        }
    }
}
