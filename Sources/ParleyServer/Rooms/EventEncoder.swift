import Foundation
import NIOCore
import ParleyProtocol

/// Serialises server events once, into the bytes every member's socket receives.
enum EventEncoder {
    static func encode(_ event: ServerEvent) -> ByteBuffer {
        if case .message(let message) = event { return encode(message) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        do {
            return ByteBuffer(bytes: try encoder.encode(event))
        } catch {
            // Our own event types always encode; this would be a programming error.
            preconditionFailure("event failed to encode: \(error)")
        }
    }

    /// The `message` event, written by hand: it is sent once per stored message, and `JSONEncoder` cost
    /// more than the rest of the fan-out. Escapes exactly as `JSONEncoder` does (tested against it).
    ///
    /// The readable bytes are the JSON; just before them sits the WebSocket text-frame header for it (see
    /// ``WebSocketTextHeader``), so every member's writer sends the same bytes without framing them again.
    static func encode(_ message: ChatMessage) -> ByteBuffer {
        // One allocation when nothing needs escaping; the buffer stays queued, so no room is reserved for escapes.
        let strings = message.nick.utf8.count + message.text.utf8.count + (message.clientID?.utf8.count ?? 0)
        var buffer = ByteBufferAllocator().buffer(capacity: WebSocketTextHeader.maxSize + 112 + strings)
        buffer.moveWriterIndex(forwardBy: WebSocketTextHeader.maxSize)
        buffer.moveReaderIndex(forwardBy: WebSocketTextHeader.maxSize)
        buffer.writeStaticString(#"{"type":"message","id":"#)
        buffer.writeDecimal(message.id)
        buffer.writeStaticString(#","nick":"#)
        buffer.writeJSONString(message.nick)
        buffer.writeStaticString(#","text":"#)
        buffer.writeJSONString(message.text)
        buffer.writeStaticString(#","ts":""#)
        buffer.writeTimestamp(message.ts)
        buffer.writeInteger(UInt8(ascii: "\""))
        if let clientID = message.clientID {
            buffer.writeStaticString(#","client_id":"#)
            buffer.writeJSONString(clientID)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
        WebSocketTextHeader.prepend(to: &buffer)
        return buffer
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
    /// A JSON string literal: `"` and `\` escaped, control characters as `\b \t \n \f \r` or `\u00xx`, the
    /// rest (including `/`, DEL and non-ASCII) as raw UTF-8.
    mutating func writeJSONString(_ string: String) {
        writeInteger(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
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
        }
        writeInteger(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

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

    /// `2026-11-22T10:00:00.123Z`, as ``Timestamp/description`` writes it, without going through `gmtime_r`.
    mutating func writeTimestamp(_ ts: Timestamp) {
        let (days, millisOfDay) = ts.milliseconds.floorDivided(by: 86_400_000)
        let (year, month, day) = Self.civilDate(daysSinceEpoch: days)
        writeDigits(year, width: 4)
        writeInteger(UInt8(ascii: "-"))
        writeDigits(month, width: 2)
        writeInteger(UInt8(ascii: "-"))
        writeDigits(day, width: 2)
        writeInteger(UInt8(ascii: "T"))
        writeDigits(millisOfDay / 3_600_000, width: 2)
        writeInteger(UInt8(ascii: ":"))
        writeDigits(millisOfDay / 60_000 % 60, width: 2)
        writeInteger(UInt8(ascii: ":"))
        writeDigits(millisOfDay / 1000 % 60, width: 2)
        writeInteger(UInt8(ascii: "."))
        writeDigits(millisOfDay % 1000, width: 3)
        writeInteger(UInt8(ascii: "Z"))
    }

    private mutating func writeDigits(_ value: Int64, width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        if rest >= divisor * 10 {
            // A year past 9999: all its digits, as `description` would.
            writeDecimal(value)
            return
        }
        while divisor > 0 {
            writeInteger(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
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
