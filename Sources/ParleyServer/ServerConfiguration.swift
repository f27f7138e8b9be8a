import Foundation
import ParleyProtocol

/// Everything `parley serve` can be told; defaults are the contract's (§6, §9).
public struct ServerConfiguration: Sendable {
    /// How rooms come into existence.
    public enum RoomCreation: String, Sendable, CaseIterable {
        /// Connecting to an unknown code creates the room.
        case open
        /// Only rooms created through `POST /api/rooms` exist.
        case api
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var database = DatabaseLocation.sqliteFile("parley.sqlite")
    public var roomCreation = RoomCreation.open
    /// Origins allowed to open WebSockets besides the server's own; `*` allows any.
    public var allowedOrigins: [String] = []
    /// Origins whose pages may show the web UI in a frame (`frame-ancestors`); none by default, so no other site
    /// can frame it (clickjacking). An app that embeds Parley (docs/AUTH.md) names its own origin here.
    public var embedOrigins: [String] = []
    public var historySize = 50
    public var maxMessageBytes = Limits.defaultMaxMessageBytes
    public var maxFrameBytes = Limits.defaultMaxFrameBytes
    public var rateBurst = Limits.defaultRateBurst
    /// Messages per second per connection after the burst; 0 means no limit.
    public var ratePerSecond = Limits.defaultRatePerSecond
    public var maxOutboundBytes = 1024 * 1024
    public var maxConnectionsPerAddress = 256
    public var maxConnections = 100_000
    /// Event-loop threads; nil: one per CPU this process may run on (its affinity mask and cgroup limits).
    public var eventLoops: Int?
    public var heartbeatInterval: Duration = .seconds(30)
    public var idleTimeout: Duration = .seconds(60)
    public var maxBodyBytes = 64 * 1024
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// How long a closing WebSocket waits for the peer's close frame.
    public var closeTimeout: Duration = .seconds(3)
    /// With PostgreSQL: a node silent for this long is dead and its members leave every list.
    public var nodeTimeout: Duration = .seconds(15)
    /// A WebSocket whose socket takes no bytes for this long while frames wait for it is dropped.
    public var writeTimeout: Duration = .seconds(30)
    /// Largest uploaded file, in bytes (contract §14); sent to clients in `welcome.limits`.
    public var maxFileBytes = Limits.defaultMaxFileBytes
    /// Bytes of files one room may hold (contract §14).
    public var maxRoomFileBytes = 1024 * 1024 * 1024
    /// From accepting a socket to a complete upgrade or request head (TLS included), and idle between
    /// keep-alive requests; then the socket is closed.
    public var handshakeTimeout: Duration = .seconds(10)
    /// State-changing HTTP requests a client address may make at once before the rate applies.
    public var httpRateBurst = 30
    /// State-changing HTTP requests per second per client address after the burst; 0 means no limit.
    public var httpRatePerSecond = 2.0
    /// Proxies whose `X-Forwarded-For` names the client.
    public var trustedProxies: [AddressRange] = []
    /// The URL users reach the server at; nil: links are built from each request's `Host`.
    public var publicURL: PublicURL?
    /// With SQLite: `full` syncs every commit (survives a power cut); `normal` may lose the last commits then.
    public var sqliteSynchronous = SQLiteSynchronous.full
    /// A secret that acts as the owner key of every room (§12, §16); nil: no operator key. Kept here as given
    /// (the process needs it to hash), never logged; rooms keep only digests.
    public var adminToken: String?
    /// An uploaded file no message carries is deleted after this long (§14: one hour); shorter in tests.
    public var unattachedFileLifetime: Duration = .seconds(3600)
    /// HS256 secret that signs identity tokens (contract §13).
    public var authSecret: String?
    /// A PEM file of RS256, ES256 or EdDSA public keys that sign identity tokens (contract §13).
    public var authPublicKeyPath: String?
    /// Whether every WebSocket and state-changing HTTP request needs a valid token (only with a key configured).
    public var auth = AuthMode.optional
    /// Bytes of file content the whole server may hold (§14 in spirit: per-room caps alone let one address
    /// fill a disk by uploading to room after room). 10 GiB: ten rooms at their full 1 GiB, and what a small
    /// server's disk spares beside the messages; operators size it to their disk.
    public var maxTotalFileBytes: Int64 = 10 * 1024 * 1024 * 1024

    public init() {}
}

/// Where history is stored.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqliteFile(String)
    case sqliteMemory
    case postgres(String)

    /// Parses `sqlite:PATH`, `sqlite::memory:` or `postgres://…`.
    public init?(_ text: String) {
        if text == "sqlite::memory:" {
            self = .sqliteMemory
        } else if text.hasPrefix("sqlite:"), text.count > "sqlite:".count {
            self = .sqliteFile(String(text.dropFirst("sqlite:".count)))
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            guard let host = URLComponents(string: text)?.host, !host.isEmpty else { return nil }
            self = .postgres(text)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .sqliteFile(let path): "sqlite:\(path)"
        case .sqliteMemory: "sqlite::memory:"
        case .postgres: "postgres://…"
        }
    }
}

extension ServerConfiguration {
    /// `value` as a CSP source for one origin (`https://host[:port]`, lower-cased), or nil when it is not one:
    /// anything with a path, query, user or other scheme would widen or break the policy.
    public static func embedOrigin(_ value: String) -> String? {
        guard let components = URLComponents(string: value), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            host.allSatisfy({ $0.isLetter || $0.isNumber || "-.[]:".contains($0) }),
            components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil,
            components.user == nil, components.password == nil
        else { return nil }
        let port = components.port.map { ":\($0)" } ?? ""
        return "\(scheme)://\(host.lowercased())\(port)"
    }
}
