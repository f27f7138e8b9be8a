import ArgumentParser
import Foundation
import Logging
import ParleyServer
import ServiceLifecycle

/// `parley serve`: runs the server until SIGTERM or SIGINT.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the chat server.",
        discussion: "Every option has an environment twin: --max-frame-bytes is PARLEY_MAX_FRAME_BYTES, and so on. "
            + "A flag on the command line wins over its environment variable."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(help: "sqlite:PATH, sqlite::memory: or postgres://USER:PASS@HOST:PORT/DB.") var database = "sqlite:parley.sqlite"
    @Option(help: "open: connecting to a code creates the room; api: only rooms made by POST /api/rooms exist.")
    var roomCreation = "open"
    @Option(help: "An Origin allowed to open WebSockets besides the server's own (repeatable; * for any).")
    var allowedOrigin: [String] = []
    @Option(help: "Messages in welcome when the client gives no since.") var historySize = 50
    @Option(help: "Largest message text, in bytes (default 4096, or --max-frame-bytes if smaller).") var maxMessageBytes: Int?
    @Option(help: "Largest WebSocket message, in bytes, after reassembly (default 65536, or --max-message-bytes if larger).")
    var maxFrameBytes: Int?
    @Option(help: "Messages a connection may send at once before the rate applies.") var rateBurst = 20
    @Option(help: "Messages per second per connection after the burst (0: no limit).") var ratePerSecond = 5
    @Option(help: "Bytes that may wait for one slow client before it is closed (1008).") var maxOutboundBytes = 1_048_576
    @Option(help: "Open WebSockets per client address.") var maxConnectionsPerAddress = 256
    @Option(help: "Open WebSockets in total.") var maxConnections = 100_000
    @Option(help: "Seconds between WebSocket pings.") var heartbeatInterval = 30
    @Option(help: "Seconds without an answer from a client before it is closed (1001).") var idleTimeout = 60
    @Option(help: "Largest HTTP request body, in bytes.") var maxBodyBytes = 65536
    @Option(help: "PEM certificate chain, to serve https:// and wss://.") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert.") var tlsKey: String?
    @Option(help: "With postgres://: seconds after which a silent node's members leave every list.") var nodeTimeout = 15
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel = "info"
    @Option(help: "Event-loop threads (default: one per CPU this process may run on).") var eventLoops: Int?
    @Option(help: "Seconds a WebSocket's socket may take no bytes while frames wait before it is dropped.") var writeTimeout = 30
    @Option(help: "Largest uploaded file, in bytes (default 10485760, or --max-room-file-bytes if smaller).") var maxFileBytes: Int?
    @Option(help: "Bytes of files one room may hold (default 1073741824, or --max-file-bytes if larger).") var maxRoomFileBytes: Int?
    @Option(help: "Seconds from accepting a socket to a complete request head or upgrade, and idle between HTTP requests.")
    var handshakeTimeout = 10
    @Option(help: "State-changing HTTP requests a client address may make at once before the rate applies.") var httpRateBurst = 30
    @Option(help: "State-changing HTTP requests per second per client address after the burst (0: no limit).") var httpRatePerSecond = 2
    @Option(help: "A proxy (CIDR or address) whose X-Forwarded-For names the client (repeatable).") var trustedProxy: [String] = []
    @Option(help: "The URL users reach the server at, for invite links and as an allowed Origin and Host.") var publicURL: String?
    @Option(help: "With SQLite: full (every commit survives a power cut) or normal (faster; a power cut may lose the last commits).")
    var sqliteSynchronous = "full"
    @Option(help: "A secret that acts as the owner key of every room (key=, or HTTP Bearer), for the operator.") var adminToken: String?
    @Option(help: "HS256 secret (32 bytes or more) that signs identity tokens; enables &auth=JWT and Authorization: Bearer JWT.")
    var authSecret: String?
    @Option(help: "PEM file of RS256, ES256 or EdDSA public keys that sign identity tokens.") var authPublicKey: String?
    @Option(help: "optional: anonymous nicks beside verified ones; required: every WebSocket and state-changing request needs a token.")
    var auth = "optional"
    @Option(help: "An origin (https://app.example) whose pages may show the web UI in a frame (repeatable).") var embedOrigin: [String] = []
    @Option(help: "Bytes of file content the whole server may hold (default 10737418240); uploads beyond it get 507.")
    var maxTotalFileBytes: Int64 = 10 * 1024 * 1024 * 1024

    /// Names of the options that have environment twins.
    static let environmentOptions = [
        "host", "port", "database", "room-creation", "allowed-origin", "history-size", "max-message-bytes", "max-frame-bytes",
        "rate-burst", "rate-per-second", "max-outbound-bytes", "max-connections-per-address", "max-connections",
        "heartbeat-interval", "idle-timeout", "max-body-bytes", "tls-cert", "tls-key", "node-timeout", "log-level",
        "event-loops",
        "write-timeout",
        "max-file-bytes", "max-room-file-bytes",
        "handshake-timeout", "http-rate-burst", "http-rate-per-second", "trusted-proxy", "public-url",
        "sqlite-synchronous",
        "admin-token", "auth-secret", "auth-public-key", "auth",
        "embed-origin",
        "max-total-file-bytes",
    ]

    /// Options whose environment twin may list several values separated by commas.
    static let listOptions: Set<String> = ["allowed-origin", "trusted-proxy", "embed-origin"]

    /// `--option value` pairs for each `PARLEY_OPTION` set in the environment whose flag is not given.
    /// `PARLEY_ALLOWED_ORIGIN` may list several origins separated by commas.
    static func environmentArguments(given: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var extra: [String] = []
        for option in environmentOptions {
            let flag = "--\(option)"
            guard !given.contains(where: { $0 == flag || $0.hasPrefix(flag + "=") }) else { continue }
            let variable = "PARLEY_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
            guard let value = environment[variable] else { continue }
            let values = Self.listOptions.contains(option) ? value.split(separator: ",").map(String.init) : [value]
            for value in values { extra += [flag, value] }
        }
        return extra
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard DatabaseLocation(database) != nil else {
            throw ValidationError("--database must be sqlite:PATH, sqlite::memory: or postgres://…")
        }
        guard ServerConfiguration.RoomCreation(rawValue: roomCreation) != nil else {
            throw ValidationError("--room-creation must be open or api")
        }
        for (name, value) in [
            ("--history-size", historySize), ("--max-message-bytes", maxMessageBytes ?? 1), ("--max-frame-bytes", maxFrameBytes ?? 1),
            ("--rate-burst", rateBurst), ("--max-outbound-bytes", maxOutboundBytes),
            ("--max-connections-per-address", maxConnectionsPerAddress), ("--max-connections", maxConnections),
            ("--heartbeat-interval", heartbeatInterval), ("--idle-timeout", idleTimeout), ("--max-body-bytes", maxBodyBytes),
            ("--node-timeout", nodeTimeout), ("--max-file-bytes", maxFileBytes ?? 1), ("--max-room-file-bytes", maxRoomFileBytes ?? 1),
            ("--write-timeout", writeTimeout), ("--handshake-timeout", handshakeTimeout), ("--http-rate-burst", httpRateBurst),
        ] where value < 1 {
            throw ValidationError("\(name) must be at least 1")
        }
        if let eventLoops, !(1...256).contains(eventLoops) { throw ValidationError("--event-loops must be 1-256") }
        guard ratePerSecond >= 0 else { throw ValidationError("--rate-per-second must be 0 or more") }
        guard historySize <= 1000 else { throw ValidationError("--history-size must be at most 1000") }
        // Only two values given that contradict each other are refused; a default gives way (contract §6).
        if let maxMessageBytes, let maxFrameBytes, maxMessageBytes > maxFrameBytes {
            throw ValidationError("--max-message-bytes must not exceed --max-frame-bytes")
        }
        if let maxFileBytes, let maxRoomFileBytes, maxFileBytes > maxRoomFileBytes {
            throw ValidationError("--max-file-bytes must not exceed --max-room-file-bytes")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel) is not a level") }
        guard httpRatePerSecond >= 0 else { throw ValidationError("--http-rate-per-second must be 0 or more") }
        for proxy in trustedProxy where AddressRange(proxy) == nil {
            throw ValidationError("--trusted-proxy \(proxy) is not an address or CIDR range")
        }
        for origin in embedOrigin where ServerConfiguration.embedOrigin(origin) == nil {
            throw ValidationError("--embed-origin \(origin) is not an origin (http://HOST[:PORT] or https://…, no path)")
        }
        if let publicURL, PublicURL(publicURL) == nil {
            throw ValidationError("--public-url must be http://HOST[:PORT][/PATH] or https://…")
        }
        guard SQLiteSynchronous(rawValue: sqliteSynchronous) != nil else { throw ValidationError("--sqlite-synchronous must be full or normal") }
        guard maxTotalFileBytes >= 1 else { throw ValidationError("--max-total-file-bytes must be at least 1") }
        if let adminToken, adminToken.utf8.count < 16 || adminToken.utf8.count > 256 {
            throw ValidationError("--admin-token must be 16-256 bytes (a long random secret)")
        }
        guard let authMode = AuthMode(rawValue: auth) else { throw ValidationError("--auth must be optional or required") }
        let keys: IdentityKeys
        do throws(IdentityKeys.Invalid) {
            keys = try IdentityKeys(secret: authSecret, publicKeyPath: authPublicKey)
        } catch {
            throw ValidationError(error.description)
        }
        if authMode == .required, keys.isEmpty { throw ValidationError("--auth required needs --auth-secret or --auth-public-key") }
    }

    var serverConfiguration: ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.database = DatabaseLocation(database)!
        configuration.roomCreation = ServerConfiguration.RoomCreation(rawValue: roomCreation)!
        configuration.allowedOrigins = allowedOrigin
        configuration.historySize = historySize
        (configuration.maxMessageBytes, configuration.maxFrameBytes) = Self.resolve(
            small: maxMessageBytes,
            large: maxFrameBytes,
            defaults: (configuration.maxMessageBytes, configuration.maxFrameBytes)
        )
        configuration.rateBurst = rateBurst
        configuration.ratePerSecond = Double(ratePerSecond)
        configuration.maxOutboundBytes = maxOutboundBytes
        configuration.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.maxConnections = maxConnections
        configuration.heartbeatInterval = .seconds(heartbeatInterval)
        configuration.idleTimeout = .seconds(idleTimeout)
        configuration.maxBodyBytes = maxBodyBytes
        configuration.tlsCertificatePath = tlsCert
        configuration.tlsKeyPath = tlsKey
        configuration.nodeTimeout = .seconds(nodeTimeout)
        configuration.eventLoops = eventLoops
        configuration.writeTimeout = .seconds(writeTimeout)
        (configuration.maxFileBytes, configuration.maxRoomFileBytes) = Self.resolve(
            small: maxFileBytes,
            large: maxRoomFileBytes,
            defaults: (configuration.maxFileBytes, configuration.maxRoomFileBytes)
        )
        configuration.handshakeTimeout = .seconds(handshakeTimeout)
        configuration.httpRateBurst = httpRateBurst
        configuration.httpRatePerSecond = Double(httpRatePerSecond)
        configuration.trustedProxies = trustedProxy.compactMap(AddressRange.init)
        configuration.publicURL = publicURL.flatMap(PublicURL.init)
        configuration.embedOrigins = embedOrigin.compactMap(ServerConfiguration.embedOrigin)
        configuration.sqliteSynchronous = SQLiteSynchronous(rawValue: sqliteSynchronous)!
        configuration.adminToken = adminToken
        configuration.authSecret = authSecret
        configuration.authPublicKeyPath = authPublicKey
        configuration.auth = AuthMode(rawValue: auth)!
        configuration.maxTotalFileBytes = maxTotalFileBytes
        return configuration
    }

    /// A pair of limits where `small` may not exceed `large`: a value given wins over the other's default,
    /// which moves to match it (`--max-frame-bytes 1024` alone lowers the message limit to 1024).
    static func resolve(small: Int?, large: Int?, defaults: (small: Int, large: Int)) -> (small: Int, large: Int) {
        let large = large ?? max(defaults.large, small ?? 0)
        return (small ?? min(defaults.small, large), large)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parley")
        // Every client is a socket: take all the open files the hard limit allows (a systemd service's soft
        // limit is 1,024).
        OpenFiles.raiseSoftLimit()
        let app = try await buildApplication(configuration: serverConfiguration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        logger.info("stopped")
    }
}
