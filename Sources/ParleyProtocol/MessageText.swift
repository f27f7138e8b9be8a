/// Validation of chat text (contract §5).
public enum MessageText {
    /// Drops one trailing `\n` or `\r\n`, as typed by line-oriented clients such as websocat.
    public static func droppingTrailingNewline(_ text: String) -> String {
        var utf8 = Substring(text).utf8
        if utf8.last == UInt8(ascii: "\n") {
            utf8.removeLast()
            if utf8.last == UInt8(ascii: "\r") { utf8.removeLast() }
            return String(Substring(utf8))
        }
        return text
    }

    /// Returns the text when it has 1...`maxBytes` bytes of UTF-8 and is not only white space.
    /// A message carrying files (§14) may have empty text.
    public static func validate(_ text: String, maxBytes: Int, attachments: Int) throws(ProtocolError) -> String {
        guard attachments > 0, text.isEmpty else { return try validate(text, maxBytes: maxBytes) }
        return text
    }

    public static func validate(_ text: String, maxBytes: Int) throws(ProtocolError) -> String {
        let count = text.utf8.count
        if count > maxBytes {
            throw ProtocolError(.tooLarge, "text is \(count) bytes; the limit is \(maxBytes)")
        }
        if count == 0 || !startsWithVisibleASCII(text) && text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) {
            throw ProtocolError(.badRequest, "text must not be empty or only white space")
        }
        // SQLite would read the text back cut at a NUL, and PostgreSQL cannot store one at all.
        if containsNUL(text) {
            throw ProtocolError(.badRequest, "text must not contain U+0000")
        }
        return text
    }

    /// Client ids are 1–64 characters.
    public static func validateClientID(_ clientID: String?) throws(ProtocolError) -> String? {
        guard let clientID else { return nil }
        guard (1...64).contains(clientID.count), !containsNUL(clientID) else {
            throw ProtocolError(.badRequest, "client_id must be 1-64 characters, without U+0000")
        }
        return clientID
    }

    /// Whether the text starts with a printable ASCII character other than space, so it is not all white
    /// space; the common case, decided without Unicode property lookups.
    private static func startsWithVisibleASCII(_ text: String) -> Bool {
        guard let first = text.utf8.first else { return false }
        return first > 0x20 && first < 0x7F
    }

    /// Searches the contiguous UTF-8 when the string has it (native strings do): the generic
    /// `utf8.contains` showed in the profile of every stored message.
    private static func containsNUL(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { $0.contains(0) } ?? text.utf8.contains(0)
    }
}
