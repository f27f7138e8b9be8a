import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ParleyProtocol
import ServiceLifecycle

/// Builds the server: storage, rooms, routes and the WebSocket upgrade. Tests call it with port 0.
///
/// - Parameters:
///   - configuration: settings, normally from `parley serve`.
///   - logger: the application's logger.
///   - onServerRunning: called with the bound port once the server listens.
public func buildApplication(
    configuration: ServerConfiguration,
    logger: Logger = Logger(label: "parley"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> ParleyApplication {
    let metrics = ParleyMetrics()
    let store: any MessageStore & Service
    var files: (any FileStore)?
    var presence: ClusterPresence?
    var services: [any Service] = []
    if case .postgres(let url) = configuration.database {
        // A name for this process in the cluster; a restarted node is a new one (its old members get swept).
        let node = String(SessionSecret.random().description.prefix(12))
        let postgres = try await PostgresMessageStore.open(url: url, node: node, metrics: metrics, logger: logger)
        store = postgres
        files = PostgresFileStore(client: postgres.client, logger: logger)
        presence = ClusterPresence(client: postgres.client, node: node, logger: logger)
    } else {
        let sqlite = try SQLiteMessageStore(
            location: configuration.database,
            synchronous: configuration.sqliteSynchronous,
            metrics: metrics,
            logger: logger
        )
        store = sqlite
        files = SQLiteFileStore(store: sqlite)
    }
    let feed = RoomFeed(store: store, logger: logger)
    let work = ConnectionWork()
    // Open rooms only: in api mode every room was made on purpose and stays.
    var forget: RoomRegistry.Forget?
    if configuration.roomCreation == .open {
        forget = { record, done in
            work.submit {
                await store.forgetRoom(record)
                done()
            }
        }
    }
    // On a cluster other nodes' messages and changes reach a room by fetches: every `welcome` reads storage there.
    let recent = presence == nil ? RecentMessages.Bounds(historySize: configuration.historySize) : .none
    let rooms = RoomRegistry(feed: feed, metrics: metrics, forget: forget, recent: recent)
    let directory = ConnectionDirectory()
    let moderation = RoomModeration(configuration: configuration, store: store, rooms: rooms, cluster: presence, work: work, logger: logger)
    if presence == nil {
        // On a cluster the listener reads them once it listens, and again whenever it missed notices.
        await moderation.reloadBans()
    }
    let limiter = ConnectionLimiter(maxTotal: configuration.maxConnections, maxPerAddress: configuration.maxConnectionsPerAddress)
    let connections = ConnectionContext(
        configuration: configuration,
        store: store,
        cluster: presence,
        rooms: rooms,
        directory: directory,
        work: work,
        metrics: metrics,
        logger: logger,
        moderation: moderation
    )
    let identityKeys = try IdentityKeys(secret: configuration.authSecret, publicKeyPath: configuration.authPublicKeyPath)
    if configuration.auth == .required, identityKeys.isEmpty {
        throw IdentityKeys.Invalid(description: "--auth required needs --auth-secret or --auth-public-key")
    }
    let verifier = await TokenVerifier.make(keys: identityKeys, mode: configuration.auth)
    let admission = Admission(
        configuration: configuration,
        store: store,
        limiter: limiter,
        work: work,
        metrics: metrics,
        verifier: verifier,
        moderation: moderation
    )
    services += [store, feed, work]
    if let files {
        services.append(FileSweeper(files: files, lifetime: configuration.unattachedFileLifetime, metrics: metrics.files, logger: logger))
    }
    if let presence {
        services.append(
            ClusterLink(
                presence: presence,
                connections: directory,
                rooms: rooms,
                moderation: moderation,
                nodeTimeout: configuration.nodeTimeout,
                logger: logger
            )
        )
    }
    let webUI = try WebUIRoutes(embedOrigins: configuration.embedOrigins)

    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: RequestGuardMiddleware(configuration: configuration, metrics: metrics.edge))
    if let verifier { router.add(middleware: IdentityMiddleware(verifier: verifier)) }
    router.add(middleware: webUI.fileMiddleware)
    webUI.add(to: router)
    let api = APIRoutes(configuration: configuration, store: store, cluster: presence, rooms: rooms, serverMetrics: metrics, moderation: moderation)
    api.add(to: router)
    if let files {
        FileRoutes(configuration: configuration, store: store, files: files, metrics: metrics.files, api: api).add(to: router)
    }
    admission.addRefusalRoute(to: router)

    let chat = ChatChannel(
        admission: admission,
        connections: connections,
        responder: router.buildResponder().httpResponder(logger: logger),
        unfinished: SocketsPerAddress(limit: Limits.unfinishedSocketsPerAddress),
        keptAlive: SocketsPerAddress(limit: configuration.maxConnectionsPerAddress)
    )
    let group = EventLoopThreads.group(threads: configuration.eventLoops)
    let drainer = ConnectionDrainer(limiter: limiter, connections: directory, logger: logger)
    // Sockets beyond it wait in the kernel's backlog (``AcceptGate``); counted once storage is open.
    let socketCapacity = OpenFiles.socketCapacity()
    /// The listener for `child` (the chat channel, behind TLS or not), which logs its address once bound.
    func listener<Child: ServerChildChannel>(_ child: Child, scheme: String) -> any Service where Child.Value == ChatChannel.Value {
        ChatServer(
            child: child,
            host: configuration.host,
            port: configuration.port,
            socketCapacity: socketCapacity ?? .max,
            metrics: metrics,
            eventLoopGroup: group,
            logger: logger
        ) { channel in
            let port = channel.localAddress?.port ?? configuration.port
            logger.info("listening on \(scheme)://\(configuration.host):\(port)")
            if let socketCapacity {
                logger.info("the open-file limit allows \(socketCapacity) sockets at a time")
                if socketCapacity < configuration.maxConnections {
                    logger.notice(
                        "--max-connections \(configuration.maxConnections) is above what the open-file limit allows; raise it (ulimit -n, LimitNOFILE=)"
                    )
                }
            }
            await onServerRunning(port)
        }
    }
    let server: any Service
    if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
        // TLS 1.0 and 1.1 are broken and deprecated (RFC 8996).
        tls.minimumTLSVersion = .tlsv12
        server = listener(try TLSChannel(chat, tlsConfiguration: tls), scheme: "https")
    } else {
        server = listener(chat, scheme: "http")
    }
    return ParleyApplication(services: services, server: server, drainer: drainer, logger: logger)
}

/// The running server: storage and the other services, the listener, and the WebSocket drainer, ordered so
/// that on graceful shutdown every WebSocket is flushed and closed with 1001 before the listener stops, and the
/// listener's last requests are answered before storage closes.
public struct ParleyApplication: Service {
    let services: [any Service]
    let server: any Service
    let drainer: ConnectionDrainer
    let logger: Logger

    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) } + [
                    .init(service: server),
                    // Listed last, so it is the first to hear of a graceful shutdown.
                    .init(service: drainer, successTerminationBehavior: .ignore),
                ],
                logger: logger
            )
        )
        try await group.run()
    }
}
