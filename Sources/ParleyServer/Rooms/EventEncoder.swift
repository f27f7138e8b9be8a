import Foundation
import NIOCore
import ParleyProtocol

/// Serialises server events once, into the bytes every member's socket receives.
enum EventEncoder {
    static func encode(_ event: ServerEvent) -> ByteBuffer {
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
