import NIOCore
import ParleyProtocol

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
        if !message.isPlain { writeLivingFields(message) }
    }

    /// The §11 fields, each only where it applies, in the order `JSONEncoder` would not guarantee but
    /// clients do not depend on.
    private mutating func writeLivingFields(_ message: ChatMessage) {
        if let replyTo = message.replyTo {
            writeStaticString(#","reply_to":"#)
            writeDecimal(replyTo)
        }
        if let editedAt = message.editedAt {
            writeStaticString(#","edited_at":""#)
            writeTimestamp(editedAt)
            writeInteger(UInt8(ascii: "\""))
        }
        if message.deleted == true {
            writeStaticString(#","deleted":true"#)
        }
        if message.verified == true {
            writeStaticString(#","verified":true"#)
        }
        if let reactions = message.reactions {
            writeStaticString(#","reactions":["#)
            for (index, reaction) in reactions.enumerated() {
                writeStaticString(index == 0 ? #"{"emoji":"# : #",{"emoji":"#)
                writeJSONString(reaction.emoji)
                writeStaticString(#","nicks":["#)
                for (position, nick) in reaction.nicks.enumerated() {
                    if position > 0 { writeInteger(UInt8(ascii: ",")) }
                    writeJSONString(nick)
                }
                writeStaticString("]}")
            }
            writeInteger(UInt8(ascii: "]"))
        }
        if let attachments = message.attachments {
            writeStaticString(#","attachments":["#)
            for (index, attachment) in attachments.enumerated() {
                writeStaticString(index == 0 ? #"{"id":"# : #",{"id":"#)
                writeJSONString(attachment.id)
                writeStaticString(#","name":"#)
                writeJSONString(attachment.name)
                writeStaticString(#","type":"#)
                writeJSONString(attachment.type)
                writeStaticString(#","size":"#)
                writeDecimal(attachment.size)
                writeStaticString(#","url":"#)
                writeJSONString(attachment.url)
                if let width = attachment.width, let height = attachment.height {
                    writeStaticString(#","width":"#)
                    writeDecimal(Int64(width))
                    writeStaticString(#","height":"#)
                    writeDecimal(Int64(height))
                }
                writeInteger(UInt8(ascii: "}"))
            }
            writeInteger(UInt8(ascii: "]"))
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
