import Foundation
import NIOCore
import ParleyProtocol

/// Serialises server events once, into the bytes every member's socket receives.
///
/// The events a busy server sends most are written by hand: `message` once per stored message, `join` and
/// `leave` once per member who comes or goes, `welcome` (up to 1,000 messages) once per (re)connecting
/// member, and `history` (up to 200). `JSONEncoder` took 205 µs and 351 allocations for a `welcome` with 50
/// messages; written by hand it takes 20 µs and 2 (Benchmarks/results.txt). The hand-written ones escape
/// exactly as `JSONEncoder` does (tested against it); the rarer events still go through it.
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
        case .nick, .typing, .pong, .error:
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
            buffer.writeStaticString(#"{"type":"message","#)
            buffer.writeMessageFields(message)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// The `welcome` event.
    static func encode(_ welcome: ServerEvent.Welcome) -> ByteBuffer {
        let room = welcome.room
        let strings = room.code.utf8.count + (room.name?.utf8.count ?? 0) + welcome.nick.utf8.count + welcome.session.utf8.count
        let members = welcome.members.reduce(0) { $0 + $1.utf8.count + 3 }
        return frame(capacity: 288 + strings + members + size(of: welcome.history)) { buffer in
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
            buffer.writeStaticString(#""},"nick":"#)
            buffer.writeJSONString(welcome.nick)
            buffer.writeStaticString(#","session":"#)
            buffer.writeJSONString(welcome.session)
            buffer.writeStaticString(#","members":["#)
            for (index, member) in welcome.members.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeJSONString(member)
            }
            buffer.writeStaticString(#"],"history":"#)
            buffer.writeJSONArray(of: welcome.history)
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
        112 + message.nick.utf8.count + message.text.utf8.count + (message.clientID?.utf8.count ?? 0)
    }

    private static func size(of messages: [ChatMessage]) -> Int {
        messages.reduce(2) { $0 + size(of: $1) }
    }
}

/// The header of an unmasked, final WebSocket text frame (RFC 6455 §5.2), as a server sends it: the same for
/// every receiver, so it can be written once, in front of the payload.
enum WebSocketTextHeader {
    static let maxSize = 10

    /// Writes the header for the readable bytes just before them. Needs that much room before `readerIndex`.
    static func prepend(to buffer: inout ByteBuffer) {
        let length = buffer.readableBytes
        let start = buffer.readerIndex - size(length: length)
        buffer.setInteger(UInt8(0x81), at: start)
        switch length {
        case ..<126: buffer.setInteger(UInt8(length), at: start + 1)
        case ..<65536:
            buffer.setInteger(UInt8(126), at: start + 1)
            buffer.setInteger(UInt16(length), at: start + 2)
        default:
            buffer.setInteger(UInt8(127), at: start + 1)
            buffer.setInteger(UInt64(length), at: start + 2)
        }
    }

    /// Appends the header of a frame whose payload is `length` bytes long.
    static func append(headerFor length: Int, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x81))
        switch length {
        case ..<126: buffer.writeInteger(UInt8(length))
        case ..<65536:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }

    /// The whole frame, header and payload, when the header for the readable bytes sits just before them;
    /// otherwise nil. Moves only indices: the storage stays shared.
    static func framed(_ payload: ByteBuffer) -> ByteBuffer? {
        let length = payload.readableBytes
        let start = payload.readerIndex - size(length: length)
        guard start >= 0 else { return nil }
        let matches = payload.withVeryUnsafeBytes { storage in
            guard storage[start] == 0x81 else { return false }
            switch length {
            case ..<126:
                return storage[start + 1] == UInt8(length)
            case ..<65536:
                return storage[start + 1] == 126 && UInt16(storage[start + 2]) << 8 | UInt16(storage[start + 3]) == UInt16(length)
            default:
                return storage[start + 1] == 127
                    && (0..<8).allSatisfy { storage[start + 2 + $0] == UInt8(truncatingIfNeeded: length >> ((7 - $0) * 8)) }
            }
        }
        guard matches else { return nil }
        var frame = payload
        frame.moveReaderIndex(to: start)
        return frame
    }

    private static func size(length: Int) -> Int {
        length < 126 ? 2 : length < 65536 ? 4 : 10
    }
}

extension ByteBuffer {
    /// A message's fields as in ``ChatMessage``'s `Codable` form, without the braces around them.
    mutating func writeMessageFields(_ message: ChatMessage) {
        writeStaticString(#""id":"#)
        writeDecimal(message.id)
        writeStaticString(#","nick":"#)
        writeJSONString(message.nick)
        writeStaticString(#","text":"#)
        writeJSONString(message.text)
        writeStaticString(#","ts":""#)
        writeTimestamp(message.ts)
        writeInteger(UInt8(ascii: "\""))
        if let clientID = message.clientID {
            writeStaticString(#","client_id":"#)
            writeJSONString(clientID)
        }
    }

    /// A JSON array of message objects.
    mutating func writeJSONArray(of messages: [ChatMessage]) {
        writeInteger(UInt8(ascii: "["))
        for (index, message) in messages.enumerated() {
            writeStaticString(index == 0 ? "{" : ",{")
            writeMessageFields(message)
            writeInteger(UInt8(ascii: "}"))
        }
        writeInteger(UInt8(ascii: "]"))
    }

    /// A finite number: whole values as integers (`5`), others in Swift's shortest form (`0.5`), as
    /// `JSONEncoder` writes them.
    mutating func writeJSONNumber(_ value: Double) {
        if value == value.rounded(), abs(value) < 0x1p53 {
            writeDecimal(Int64(value))
        } else {
            writeString(value.description)
        }
    }

    mutating func writeJSONBool(_ value: Bool) {
        writeStaticString(value ? "true" : "false")
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\b \t \n \f \r` or `\u00xx`, the
    /// rest (including `/`, DEL and non-ASCII) as raw UTF-8.
    mutating func writeJSONString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            // Most strings need no escape: quotes and bytes in one write.
            if !utf8.contains(where: Self.needsEscape) {
                writeWithUnsafeMutableBytes(minimumWritableBytes: utf8.count + 2) { out in
                    out[0] = UInt8(ascii: "\"")
                    UnsafeMutableRawBufferPointer(rebasing: out[1...]).copyMemory(from: UnsafeRawBufferPointer(utf8))
                    out[utf8.count + 1] = UInt8(ascii: "\"")
                    return utf8.count + 2
                }
                return
            }
            writeInteger(UInt8(ascii: "\""))
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard Self.needsEscape(byte) else { continue }
                writeBytes(UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): writeStaticString(#"\\"#)
                case 0x08: writeStaticString(#"\b"#)
                case 0x09: writeStaticString(#"\t"#)
                case 0x0A: writeStaticString(#"\n"#)
                case 0x0C: writeStaticString(#"\f"#)
                case 0x0D: writeStaticString(#"\r"#)
                default:
                    writeStaticString(#"\u00"#)
                    writeInteger(Self.hexDigits[Int(byte >> 4)])
                    writeInteger(Self.hexDigits[Int(byte & 0x0F)])
                }
            }
            writeBytes(UnsafeBufferPointer(rebasing: utf8[start...]))
            writeInteger(UInt8(ascii: "\""))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Control characters, `"` and `\\`: what a JSON string must escape.
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    mutating func writeDecimal(_ value: Int64) {
        if value < 0 { writeInteger(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var end = scratch.count
            repeat {
                end -= 1
                scratch[end] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            writeBytes(UnsafeRawBufferPointer(rebasing: scratch[end...]))
        }
    }

    /// `2026-11-22T10:00:00.123Z`, as ``Timestamp/description`` writes it, without going through `gmtime_r`:
    /// the 24 bytes in one write.
    mutating func writeTimestamp(_ ts: Timestamp) {
        let (days, millisOfDay) = ts.milliseconds.floorDivided(by: 86_400_000)
        let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
        guard (0...9999).contains(year) else {
            // Outside four digits `description` decides the form.
            writeString(ts.description)
            return
        }
        writeWithUnsafeMutableBytes(minimumWritableBytes: 24) { out in
            func digits(_ value: Int64, _ width: Int, at offset: Int) {
                var rest = value
                for index in (offset..<offset + width).reversed() {
                    out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            digits(year, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            digits(month, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            digits(day, 2, at: 8)
            out[10] = UInt8(ascii: "T")
            digits(millisOfDay / 3_600_000, 2, at: 11)
            out[13] = UInt8(ascii: ":")
            digits(millisOfDay / 60_000 % 60, 2, at: 14)
            out[16] = UInt8(ascii: ":")
            digits(millisOfDay / 1000 % 60, 2, at: 17)
            out[19] = UInt8(ascii: ".")
            digits(millisOfDay % 1000, 3, at: 20)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// Year, month and day of a day count since 1970-01-01 (proleptic Gregorian; Howard Hinnant's
    /// `civil_from_days`).
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }
}
