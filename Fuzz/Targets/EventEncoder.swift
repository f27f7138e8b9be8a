import Foundation
import NIOCore
import ParleyProtocol

@testable import ParleyServer

/// A server event built from the input, with any strings, ids and timestamps (years 0–9999, the range a
/// server clock produces).
///
/// What `EventEncoder` writes is one JSON object that `JSONDecoder` reads back as the same event. The
/// hand-written events (a fixed key order) also encode again to the same bytes, so no change of normal form
/// hides behind `String`'s `==`, and carry the WebSocket text-frame header for exactly their bytes in front
/// of them. (The rare events go through `JSONEncoder`, whose key order may differ from one call to the next.)
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventEncoder(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let event = makeEvent(&input)

    let buffer = EventEncoder.encode(event)
    let payload = Array(buffer.readableBytesView)
    let decoded: ServerEvent
    do {
        decoded = try JSONDecoder().decode(ServerEvent.self, from: Data(payload))
    } catch {
        fatalError("\(event) was written as \(String(decoding: payload, as: UTF8.self).debugDescription), which does not decode: \(error)")
    }
    require(decoded == event, "\(event) came back as \(decoded)")

    switch event {
    case .message, .welcome, .history, .join, .leave, .update:
        // Written by hand, in a fixed key order: the same event gives the same bytes.
        let again = Array(EventEncoder.encode(decoded).readableBytesView)
        require(again == payload, "\(event) encoded again differs: \(String(decoding: again, as: UTF8.self).debugDescription)")
        guard let frame = WebSocketTextHeader.framed(buffer) else {
            fatalError("no frame header in front of \(event)")
        }
        let bytes = Array(frame.readableBytesView)
        require(bytes.first == 0x81, "not a final text frame: \(bytes.prefix(10))")
        let length: Int
        let headerSize: Int
        switch bytes[1] {
        case 126: (length, headerSize) = (Int(bytes[2]) << 8 | Int(bytes[3]), 4)
        case 127: (length, headerSize) = (bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }, 10)
        default: (length, headerSize) = (Int(bytes[1]), 2)
        }
        require(length == payload.count && bytes.count == headerSize + length, "header says \(length) bytes for \(payload.count)")
        require(headerSize == (length < 126 ? 2 : length < 65536 ? 4 : 10), "header of \(headerSize) bytes for \(length)")
        require(Array(bytes[headerSize...]) == payload, "frame payload differs")
    case .nick, .typing, .pong, .error, .removed, .room, .bans, .moderatorKey:
        break
    }
    return 0
}

private func makeEvent(_ input: inout FuzzInput) -> ServerEvent {
    switch input.byte() % 10 {
    case 0: return .message(message(&input))
    case 1:
        let room = RoomInfo(code: input.string(), name: input.bool() ? input.string() : nil, createdAt: timestamp(&input))
        let welcome = ServerEvent.Welcome(
            room: room,
            nick: input.string(),
            session: input.string(),
            members: (0..<input.byte() % 8).map { _ in input.string() },
            history: (0..<input.byte() % 8).map { _ in message(&input) },
            lastID: input.int64(),
            truncated: input.bool(),
            rev: input.bool() ? input.int64() : nil,
            updates: input.bool() ? (0..<input.byte() % 4).map { _ in message(&input) } : nil,
            updatesTruncated: input.bool() ? true : nil
        )
        return .welcome(welcome)
    case 2: return .history(messages: (0..<input.byte() % 8).map { _ in message(&input) }, hasMore: input.bool())
    case 3: return .join(nick: input.string(), ts: timestamp(&input))
    case 4: return .leave(nick: input.string(), ts: timestamp(&input))
    case 5: return .nick(from: input.string(), to: input.string(), ts: timestamp(&input))
    case 6: return .typing(nick: input.string())
    case 7: return .pong
    case 8: return .update(rev: input.int64(), message: message(&input))
    default:
        let code = ErrorCode.allCases[Int(input.byte()) % ErrorCode.allCases.count]
        return .error(code: code, message: input.string(), clientID: input.bool() ? input.string() : nil)
    }
}

private func message(_ input: inout FuzzInput) -> ChatMessage {
    let id = input.int64()
    let ts = timestamp(&input)
    let clientID = input.bool() ? input.string() : nil
    // Long texts reach the two- and eight-byte frame lengths.
    let text = input.byte() == 0xFF ? String(repeating: input.string(), count: 300) : input.string()
    var message = ChatMessage(id: id, nick: input.string(), text: text, ts: ts, clientID: clientID)
    // The living-message fields (contract §11), each present only when it applies.
    if input.bool() { message.replyTo = input.int64() }
    if input.bool() { message.editedAt = timestamp(&input) }
    if input.bool() {
        message.deleted = true
        message.text = ""
    } else if input.bool() {
        message.reactions = (0..<1 + input.byte() % 3).map { _ in
            Reaction(emoji: input.string(), nicks: (0..<1 + input.byte() % 3).map { _ in input.string() })
        }
    }
    return message
}

/// 0000-01-01T00:00:00.000Z up to 9999-12-31T23:59:59.999Z.
private func timestamp(_ input: inout FuzzInput) -> Timestamp {
    let first: Int64 = -62_167_219_200_000
    let last: Int64 = 253_402_300_799_999
    let offset = Int64(bitPattern: UInt64(bitPattern: input.int64()) % UInt64(last - first + 1))
    return Timestamp(milliseconds: first + offset)
}
