/// Why a bench could not run: bad arguments, or members that could not connect and join.
public struct BenchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// The URL or an option cannot be used (nothing was sent).
        case usage
        /// A member could not connect, was refused, or got no `welcome` in time.
        case joinFailed
    }

    public var kind: Kind
    public var message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
