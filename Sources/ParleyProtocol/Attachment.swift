/// A file carried by a message (§14), as every message object shows it.
public struct Attachment: Codable, Hashable, Sendable {
    /// At least 128 random bits, as lowercase hex (``FileID``).
    public var id: String
    public var name: String
    /// The `Content-Type` it was uploaded with.
    public var type: String
    public var size: Int64
    /// Where it is served: `/files/{id}/{name}`, the name percent-encoded.
    public var url: String
    /// Read from an image's header; absent for other files and unreadable headers.
    public var width: Int?
    public var height: Int?

    public init(id: String, name: String, type: String, size: Int64, width: Int? = nil, height: Int? = nil) {
        self.id = id
        self.name = name
        self.type = type
        self.size = size
        self.url = Self.path(id: id, name: name)
        self.width = width
        self.height = height
    }

    /// The file's path on the server: the name percent-encoded as one path segment.
    public static func path(id: String, name: String) -> String {
        var encoded = ""
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                encoded.unicodeScalars.append("%")
                encoded.unicodeScalars.append(hex[Int(byte >> 4)])
                encoded.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return "/files/\(id)/\(encoded)"
    }
}

/// Contract values for files (§14).
public enum FileRules {
    /// Attachments one message may carry.
    public static let maxAttachments = 10
    /// Longest file name, in bytes of UTF-8.
    public static let maxNameBytes = 255

    /// A file id: 32 lowercase hex digits (128 random bits).
    public static func isFileID(_ id: some StringProtocol) -> Bool {
        id.utf8.count == 32
            && id.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// A message's attachment list: 1–10 distinct file ids.
    public static func validateAttachments(_ ids: [String]) throws(ProtocolError) -> [String] {
        guard (1...maxAttachments).contains(ids.count) else {
            throw ProtocolError(.badRequest, "attachments must list 1-\(maxAttachments) file ids")
        }
        guard ids.allSatisfy({ isFileID($0) }) else { throw ProtocolError(.badRequest, "attachments must be file ids") }
        guard Set(ids).count == ids.count else { throw ProtocolError(.badRequest, "attachments must not repeat a file") }
        return ids
    }

    /// A file name as stored and shown: 1–255 bytes, no control characters, no `/` or `\`.
    public static func validateName(_ name: String) throws(ProtocolError) -> String {
        let count = name.utf8.count
        guard count > 0, count <= maxNameBytes else {
            throw ProtocolError(.badRequest, "name must be 1-\(maxNameBytes) bytes")
        }
        guard name != ".", name != "..",
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "/" || $0 == "\\" })
        else {
            throw ProtocolError(.badRequest, "name must not contain control characters, / or \\")
        }
        return name
    }
}
