/// The WebSocket close codes of the contract (§2, §5, §6, §8, §12, §13) and the RFC 6455 ones the server
/// also uses, named once for the server and the clients. A struct rather than an enum: a peer may close with
/// any code, and the server answers a client's close with the client's own.
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// A client's close without a code, or a shut TCP side, is answered with this.
    public static let normalClosure = CloseCode(rawValue: 1000)
    /// Idle timeout, and graceful shutdown.
    public static let goingAway = CloseCode(rawValue: 1001)
    /// The answer to a close frame whose code no close frame may carry.
    public static let protocolError = CloseCode(rawValue: 1002)
    /// A binary frame.
    public static let unsupportedData = CloseCode(rawValue: 1003)
    /// A text frame that is not valid UTF-8.
    public static let invalidFramePayload = CloseCode(rawValue: 1007)
    /// The slow-consumer cut (reason `slow consumer`), repeated rate-limit refusals, a room that went away.
    public static let policyViolation = CloseCode(rawValue: 1008)
    /// A message over the maximum frame size.
    public static let messageTooLarge = CloseCode(rawValue: 1009)
    /// Storage failed while the connection was being set up.
    public static let internalError = CloseCode(rawValue: 1011)
    /// Another connection took over this session (reason `replaced`).
    public static let replaced = CloseCode(rawValue: 4001)
    /// The member was kicked or banned (reason `kicked` or `banned`).
    public static let kicked = CloseCode(rawValue: 4003)
    /// The room was deleted (reason `room deleted`).
    public static let roomDeleted = CloseCode(rawValue: 4004)
    /// The connection's token expired (reason `token expired`).
    public static let tokenExpired = CloseCode(rawValue: 4005)

    public var description: String { String(rawValue) }
}
