import Foundation
import NIOCore
import ParleyProtocol

/// Serialises server events once, into the bytes every member's socket receives.
///
/// The events a busy server sends most are written by hand: `message` once per stored message, `join` and
/// `leave` once per member who comes or goes, `welcome` (up to 1,000 messages) once per (re)connecting
/// member, and `history` (up to 200); written by hand they take a fraction of `JSONEncoder`'s time and
/// allocations (docs/PERFORMANCE.md, "Measurements behind the code"). The hand-written ones escape exactly as
/// `JSONEncoder` does (tested against it); the rarer events still go through it.
///
/// A hand-written event's readable bytes are the JSON; just before them sits the WebSocket text-frame header
/// for it (see ``WebSocketTextHeader``), so every member's writer sends the same bytes without framing them
/// again.
enum EventEncoder {
    static func encode(_ event: ServerEvent) -> ByteBuffer {
        switch event {
        case .message(let message):
            return encode(message)
        case .welcome(let welcome):
            return encode(welcome)
        case .update(let rev, let message):
            return frame(capacity: 48 + size(of: message)) { buffer in
                buffer.writeStaticString(updateOpening)
                buffer.writeDecimal(rev)
                buffer.writeStaticString(updateMessageOpening)
                buffer.writeMessageFields(message)
                buffer.writeStaticString("}}")
            }
        case .history(let messages, let hasMore):
            return frame(capacity: 48 + size(of: messages)) { buffer in
                buffer.writeStaticString(#"{"type":"history","messages":"#)
                buffer.writeJSONArray(of: messages)
                buffer.writeStaticString(#","has_more":"#)
                buffer.writeJSONBool(hasMore)
                buffer.writeInteger(UInt8(ascii: "}"))
            }
        case .join(let nick, let ts):
            return presence(#"{"type":"join","nick":"#, nick, ts)
        case .leave(let nick, let ts):
            return presence(#"{"type":"leave","nick":"#, nick, ts)
        case .nick, .typing, .pong, .error, .removed, .room, .bans, .moderatorKey:
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes
            do {
                return ByteBuffer(bytes: try encoder.encode(event))
            } catch {
                // Our own event types always encode; this would be a programming error.
                preconditionFailure("event failed to encode: \(error)")
            }
        }
    }

    /// The `message` event.
    static func encode(_ message: ChatMessage) -> ByteBuffer {
        // One allocation when nothing needs escaping; the buffer stays queued, so no room is reserved for escapes.
        frame(capacity: size(of: message)) { buffer in
            buffer.writeStaticString(messageOpening)
            buffer.writeMessageFields(message)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// The fields of a `message` frame from ``encode(_:)-(ChatMessage)``: what a history array holds between
    /// braces. Shares the frame's storage.
    static func fields(ofMessage frame: ByteBuffer) -> ByteBuffer {
        let opening = messageOpening.utf8CodeUnitCount
        return frame.getSlice(at: frame.readerIndex + opening, length: frame.readableBytes - opening - 1) ?? ByteBuffer()
    }

    /// The fields of the message in an `update` frame under revision `rev`, as ``fields(ofMessage:)``.
    static func fields(ofUpdate frame: ByteBuffer, rev: Int64) -> ByteBuffer {
        var digits = rev < 0 ? 2 : 1
        var rest = rev.magnitude
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        let opening = updateOpening.utf8CodeUnitCount + digits + updateMessageOpening.utf8CodeUnitCount
        return frame.getSlice(at: frame.readerIndex + opening, length: frame.readableBytes - opening - 2) ?? ByteBuffer()
    }

    private static let messageOpening: StaticString = #"{"type":"message","#
    private static let updateOpening: StaticString = #"{"type":"update","rev":"#
    private static let updateMessageOpening: StaticString = #","message":{"#

    /// The `welcome` event; `encodedHistory` (fields as ``fields(ofMessage:)`` gives them) replaces
    /// `welcome.history` when given.
    static func encode(_ welcome: ServerEvent.Welcome, encodedHistory: [ByteBuffer]? = nil) -> ByteBuffer {
        let room = welcome.room
        let strings =
            room.code.utf8.count + (room.name?.utf8.count ?? 0) + (room.topic?.utf8.count ?? 0) + welcome.nick.utf8.count
            + welcome.session.utf8.count
        let members = (welcome.members + (welcome.verifiedMembers ?? [])).reduce(0) { $0 + $1.utf8.count + 3 }
        let updates = welcome.updates.map { size(of: $0) } ?? 0
        let history = encodedHistory.map { $0.reduce(2) { $0 + $1.readableBytes + 3 } } ?? size(of: welcome.history)
        return frame(capacity: 320 + strings + members + history + updates) { buffer in
            buffer.writeStaticString(#"{"type":"welcome","room":{"code":"#)
            buffer.writeJSONString(room.code)
            buffer.writeStaticString(#","name":"#)
            if let name = room.name {
                buffer.writeJSONString(name)
            } else {
                buffer.writeStaticString("null")
            }
            buffer.writeStaticString(#","created_at":""#)
            buffer.writeTimestamp(room.createdAt)
            if let locked = room.locked {
                buffer.writeStaticString(#"","topic":"#)
                if let topic = room.topic {
                    buffer.writeJSONString(topic)
                } else {
                    buffer.writeStaticString("null")
                }
                buffer.writeStaticString(#","locked":"#)
                buffer.writeJSONBool(locked)
                buffer.writeStaticString(#","slow_mode":"#)
                buffer.writeDecimal(Int64(room.slowMode ?? 0))
                buffer.writeStaticString(#"},"nick":"#)
            } else {
                buffer.writeStaticString(#""},"nick":"#)
            }
            buffer.writeJSONString(welcome.nick)
            buffer.writeStaticString(#","session":"#)
            buffer.writeJSONString(welcome.session)
            buffer.writeStaticString(#","members":["#)
            for (index, member) in welcome.members.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeJSONString(member)
            }
            buffer.writeStaticString(#"],"history":"#)
            if let encodedHistory {
                buffer.writeInteger(UInt8(ascii: "["))
                for (index, fields) in encodedHistory.enumerated() {
                    buffer.writeStaticString(index == 0 ? "{" : ",{")
                    buffer.writeImmutableBuffer(fields)
                    buffer.writeInteger(UInt8(ascii: "}"))
                }
                buffer.writeInteger(UInt8(ascii: "]"))
            } else {
                buffer.writeJSONArray(of: welcome.history)
            }
            buffer.writeStaticString(#","last_id":"#)
            buffer.writeDecimal(welcome.lastID)
            buffer.writeStaticString(#","truncated":"#)
            buffer.writeJSONBool(welcome.truncated)
            if let limits = welcome.limits {
                buffer.writeStaticString(#","limits":{"max_message_bytes":"#)
                buffer.writeDecimal(Int64(limits.maxMessageBytes))
                buffer.writeStaticString(#","max_file_bytes":"#)
                buffer.writeDecimal(Int64(limits.maxFileBytes))
                buffer.writeStaticString(#","rate_burst":"#)
                buffer.writeDecimal(Int64(limits.rateBurst))
                buffer.writeStaticString(#","rate_per_second":"#)
                buffer.writeJSONNumber(limits.ratePerSecond)
                buffer.writeInteger(UInt8(ascii: "}"))
            }
            if let rev = welcome.rev {
                buffer.writeStaticString(#","rev":"#)
                buffer.writeDecimal(rev)
            }
            if let updates = welcome.updates {
                buffer.writeStaticString(#","updates":"#)
                buffer.writeJSONArray(of: updates)
            }
            if let truncated = welcome.updatesTruncated {
                buffer.writeStaticString(#","updates_truncated":"#)
                buffer.writeJSONBool(truncated)
            }
            if let verified = welcome.verifiedMembers, !verified.isEmpty {
                buffer.writeStaticString(#","verified_members":["#)
                for (index, member) in verified.enumerated() {
                    if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                    buffer.writeJSONString(member)
                }
                buffer.writeInteger(UInt8(ascii: "]"))
            }
            if let role = welcome.role {
                buffer.writeStaticString(#","role":"#)
                buffer.writeJSONString(role.rawValue)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    private static func presence(_ opening: StaticString, _ nick: String, _ ts: Timestamp) -> ByteBuffer {
        frame(capacity: 64 + nick.utf8.count) { buffer in
            buffer.writeStaticString(opening)
            buffer.writeJSONString(nick)
            buffer.writeStaticString(#","ts":""#)
            buffer.writeTimestamp(ts)
            buffer.writeStaticString(#""}"#)
        }
    }

    /// A buffer with room for the frame header, the JSON that `body` writes, then the header in front of it.
    private static func frame(capacity: Int, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: WebSocketTextHeader.maxSize + capacity)
        buffer.moveWriterIndex(forwardBy: WebSocketTextHeader.maxSize)
        buffer.moveReaderIndex(forwardBy: WebSocketTextHeader.maxSize)
        body(&buffer)
        WebSocketTextHeader.prepend(to: &buffer)
        return buffer
    }

    /// About what a message takes when nothing in it needs escaping.
    private static func size(of message: ChatMessage) -> Int {
        var plain = 112 + message.nick.utf8.count + message.text.utf8.count + (message.clientID?.utf8.count ?? 0)
        if let attachments = message.attachments {
            plain = attachments.reduce(plain + 16) { $0 + 160 + 2 * $1.name.utf8.count + $1.type.utf8.count }
        }
        guard let reactions = message.reactions else { return message.isPlain ? plain : plain + 80 }
        return reactions.reduce(plain + 96) { total, reaction in
            reaction.nicks.reduce(total + 24 + reaction.emoji.utf8.count) { $0 + 3 + $1.utf8.count }
        }
    }

    private static func size(of messages: [ChatMessage]) -> Int {
        messages.reduce(2) { $0 + size(of: $1) }
    }
}
