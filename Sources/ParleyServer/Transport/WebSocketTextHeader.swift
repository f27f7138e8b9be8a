import NIOCore

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
