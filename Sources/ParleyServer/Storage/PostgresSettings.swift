import Foundation
import PostgresNIO

/// Connection settings parsed from `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…`.
struct PostgresSettings: Sendable {
    var host: String
    var port: Int
    var username: String
    var password: String?
    var database: String?
    var tls: TLSMode

    enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    init(url text: String) throws {
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw StorageError.unsupported("--database: cannot read a host from the postgres:// URL")
        }
        self.host = host
        self.port = url.port ?? 5432
        self.username = url.user ?? "postgres"
        self.password = url.password
        let path = url.path.drop { $0 == "/" }
        self.database = path.isEmpty ? nil : String(path)
        let mode = url.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        // libpq's allow/verify-* spellings map onto the nearest of the three modes.
        switch mode {
        case "disable", "allow": self.tls = .disable
        case "require", "verify-ca", "verify-full": self.tls = .require
        default: self.tls = .prefer
        }
    }

    var clientConfiguration: PostgresClient.Configuration {
        get throws {
            let tls: PostgresClient.Configuration.TLS =
                switch self.tls {
                case .disable: .disable
                case .prefer: .prefer(.makeClientConfiguration())
                case .require: .require(.makeClientConfiguration())
                }
            var configuration = PostgresClient.Configuration(
                host: host,
                port: port,
                username: username,
                password: password,
                database: database,
                tls: tls
            )
            configuration.options.connectTimeout = .seconds(5)
            configuration.options.maximumConnections = 16
            configuration.options.additionalStartupParameters = Self.sessionParameters
            return configuration
        }
    }

    /// Settings for the pool's sessions. Text travels as UTF-8 whatever the database's encoding, so text the
    /// database cannot hold is refused, not stored garbled. A call the node gave up on (see ``StorageDeadline``)
    /// is ended by the server too: no statement runs, and no transaction stays open, past the deadline; and
    /// the server probes an idle socket, so a backend whose node vanished behind a dead network goes soon.
    static let sessionParameters: [(String, String)] = [
        ("client_encoding", "UTF8"),
        ("statement_timeout", "\(StorageDeadline.call.components.seconds * 1000)"),
        ("idle_in_transaction_session_timeout", "\(StorageDeadline.call.components.seconds * 1000)"),
        ("tcp_keepalives_idle", "5"),
        ("tcp_keepalives_interval", "2"),
        ("tcp_keepalives_count", "3"),
    ]

    var connectionConfiguration: PostgresConnection.Configuration {
        get throws {
            let tls: PostgresConnection.Configuration.TLS =
                switch self.tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            var configuration = PostgresConnection.Configuration(
                host: host,
                port: port,
                username: username,
                password: password,
                database: database,
                tls: tls
            )
            configuration.options.connectTimeout = .seconds(5)
            return configuration
        }
    }
}
