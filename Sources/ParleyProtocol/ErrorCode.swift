/// Every error code the contract defines, for `error` events and HTTP error bodies.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case invalidRoom = "invalid_room"
    case invalidNick = "invalid_nick"
    case notFound = "not_found"
    case tooLarge = "too_large"
    case rateLimited = "rate_limited"
    case forbidden
    case unavailable
    case nickTaken = "nick_taken"
    case unknownType = "unknown_type"
    /// A signed identity (§13) that is missing, invalid, expired or for another room: HTTP 401.
    case unauthorized
}

/// A refusal with a contract error code and a human-readable explanation.
public struct ProtocolError: Error, Equatable, Sendable {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
