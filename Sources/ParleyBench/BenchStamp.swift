/// The marker at the start of every text the bench sends: `pb:<nanoseconds>:<seq> xxxx…`.
///
/// `nanoseconds` is the send time on the run's clock (``BenchClock``), so a receiver in the same process
/// measures latency as receive time − send time. `seq` numbers the room's messages; in closed loop it also
/// says which publisher sent the message (`seq % publishers`).
public struct BenchStamp: Sendable, Hashable {
    public var sentAt: Int64
    public var seq: Int

    public init(sentAt: Int64, seq: Int) {
        self.sentAt = sentAt
        self.seq = seq
    }

    static let prefix: [UInt8] = Array("pb:".utf8)

    /// The chat text: the marker, a space, then `x` up to `size` bytes (never shorter than the marker).
    public func text(size: Int) -> String {
        var text = "pb:\(sentAt):\(seq) "
        let padding = size - text.utf8.count
        if padding > 0 { text += String(repeating: "x", count: padding) }
        return text
    }

    /// The `message` command that sends ``text(size:)``. The text needs no JSON escaping.
    public func command(size: Int) -> String {
        #"{"type":"message","text":""# + text(size: size) + #""}"#
    }

    /// Reads a marker at the start of `bytes`, or `nil` when they do not start with one.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> BenchStamp? {
        guard bytes.count > prefix.count, bytes[0] == prefix[0], bytes[1] == prefix[1], bytes[2] == prefix[2] else { return nil }
        var index = prefix.count
        guard let sentAt = FrameScanner.integer(in: bytes, at: &index), index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
            return nil
        }
        index += 1
        guard let seq = FrameScanner.integer(in: bytes, at: &index) else { return nil }
        return BenchStamp(sentAt: sentAt, seq: Int(seq))
    }
}
