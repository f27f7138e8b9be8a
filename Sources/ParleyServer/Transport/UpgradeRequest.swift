/// The plain WebSocket upgrade request that ``WebSocketHandshake`` answers without NIO's HTTP codec and
/// upgrader: `GET /ws…` over HTTP/1.1, one head in visible ASCII, no body, and the upgrade fields that
/// NIO's WebSocket upgrader requires (`Upgrade: websocket`, exactly one `Sec-WebSocket-Key` and one
/// `Sec-WebSocket-Version: 13`).
///
/// Anything else is not refused here but handed to NIO's HTTP pipeline as received, so this is a shortcut
/// for the requests every WebSocket client sends, never a second HTTP parser with opinions of its own.
///
/// It imports nothing, so that `scripts/fuzz` can build it alone.
struct UpgradeRequest {
    /// The request target, `/ws…`.
    var target: String
    /// Of the head's fields, those in ``admissionFields``, in the order they came (names in lowercase).
    var fields: [(name: String, value: String)]
    /// The value of `Sec-WebSocket-Key`.
    var key: String
    /// The bytes of the head, with its blank line; whatever follows belongs to the WebSocket.
    var length: Int

    enum Scan {
        /// The head has not all arrived, and what has could still be a plain upgrade.
        case incomplete
        /// Not a plain upgrade request: NIO's HTTP pipeline takes it.
        case other
        case upgrade(UpgradeRequest)
    }

    /// The fields ``Admission/decide(_:channel:)`` reads, in lowercase; no other field is kept.
    static let admissionFields: [StaticString] = ["host", "origin", "x-forwarded-for"]

    /// Fields in a head, at most; a head with more goes to NIO.
    static let maxFields = 64
    /// Bytes in a head, at most; a longer one goes to NIO.
    static let maxLength = 16_384

    private static let prefix = Array("GET /ws".utf8)
    private static let version = Array(" HTTP/1.1\r\n".utf8)

    /// Reads the head at the start of `bytes`. `scanned` is how many of them an earlier call saw: the search for
    /// the head's end goes on from there, so a head that arrives a byte at a time costs no more than one that
    /// arrives whole.
    static func scan(_ bytes: UnsafeRawBufferPointer, scanned: Int = 0) -> Scan {
        // Any other method or path is decided from the first bytes, without waiting for the head.
        let known = min(bytes.count, prefix.count)
        guard bytes.prefix(known).elementsEqual(prefix.prefix(known)) else { return .other }
        if bytes.count > prefix.count, bytes[prefix.count] != UInt8(ascii: "?"), bytes[prefix.count] != UInt8(ascii: " ") {
            return .other
        }
        guard let end = headEnd(bytes, from: scanned) else { return bytes.count > maxLength ? .other : .incomplete }
        guard end <= maxLength, let request = parse(UnsafeRawBufferPointer(rebasing: bytes[..<end])) else { return .other }
        return .upgrade(request)
    }

    /// The length of the head up to and with its blank line, if it is all there.
    private static func headEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = max(3, start)
        while index < bytes.count {
            if bytes[index] == 10, bytes[index - 1] == 13, bytes[index - 2] == 10, bytes[index - 3] == 13 { return index + 1 }
            index += 1
        }
        return nil
    }

    /// Parses a complete head (`bytes` ends with its blank line); nil unless it is a plain upgrade.
    private static func parse(_ bytes: UnsafeRawBufferPointer) -> UpgradeRequest? {
        // The request line: "GET " target " HTTP/1.1" CRLF, the target in visible ASCII.
        let targetStart = 4
        var index = targetStart
        while index < bytes.count, isVisible(bytes[index]) { index += 1 }
        let targetEnd = index
        guard index + version.count <= bytes.count, bytes[index..<(index + version.count)].elementsEqual(version) else { return nil }
        index += version.count

        var kept: [(name: String, value: String)] = []
        var fields = 0
        var key: String?
        var keys = 0
        var versions = 0
        var websocket = false
        while true {
            guard index + 1 < bytes.count else { return nil }
            if bytes[index] == 13 {
                // The blank line: the end of the head.
                guard bytes[index + 1] == 10, index + 2 == bytes.count else { return nil }
                break
            }
            guard fields < maxFields else { return nil }
            // name ":" OWS value OWS CRLF; a line folded onto the previous one starts with a space and is not a token.
            let nameStart = index
            while index < bytes.count, isToken(bytes[index]) { index += 1 }
            guard index > nameStart, index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            let nameEnd = index
            index += 1
            while index < bytes.count, bytes[index] == 32 || bytes[index] == 9 { index += 1 }
            let valueStart = index
            while index < bytes.count, isVisible(bytes[index]) || bytes[index] == 32 || bytes[index] == 9 { index += 1 }
            guard index + 1 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10 else { return nil }
            // NIO's parser keeps white space at the end of a value, and its upgrader trims it from the upgrade's
            // fields: so do these.
            let rawValue = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<index])
            var valueEnd = index
            while valueEnd > valueStart, bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9 { valueEnd -= 1 }
            index += 2

            fields += 1
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            if same(name, "content-length") || same(name, "transfer-encoding") {
                // A body: NIO's parser frames it.
                return nil
            } else if same(name, "upgrade") {
                // A list of protocols; NIO's upgrader takes `websocket` from anywhere in it.
                if String(decoding: value, as: UTF8.self).split(separator: ",").contains(where: { $0.trimmed.lowercased() == "websocket" }) {
                    websocket = true
                }
            } else if same(name, "sec-websocket-key") {
                keys += 1
                key = String(decoding: value, as: UTF8.self)
            } else if same(name, "sec-websocket-version") {
                versions += 1
                guard value.elementsEqual("13".utf8) else { return nil }
            } else if let read = admissionFields.first(where: { same(name, $0) }) {
                kept.append((read.description, String(decoding: rawValue, as: UTF8.self)))
            }
        }
        // NIO reads these two fields as lists and wants exactly one item in each.
        guard websocket, keys == 1, versions == 1, let key, !key.isEmpty, !key.contains(",") else { return nil }
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]), as: UTF8.self)
        return UpgradeRequest(target: target, fields: kept, key: key, length: bytes.count)
    }

    /// Whether a field's name is `lowercase`, in any case.
    private static func same(_ name: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard name.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        for index in 0..<name.count where name[index] | 0x20 != expected[index] {
            // `| 0x20` folds letters to lowercase, and leaves the token's digits and `-` as they are.
            return false
        }
        return true
    }

    private static func isVisible(_ byte: UInt8) -> Bool {
        byte > 32 && byte < 127
    }

    /// A character of an HTTP token (RFC 9110 §5.6.2).
    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

extension Substring {
    fileprivate var trimmed: Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}
