import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
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
    let store = try SQLiteMessageStore(location: configuration.database, metrics: metrics, logger: logger)
    let hub = ChatHub(configuration: configuration, store: store, metrics: metrics, logger: logger)
    let webUI = try WebUIRoutes()

    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: webUI.fileMiddleware)
    webUI.add(to: router)
    APIRoutes(hub: hub).add(to: router)
    hub.addWebSocketRefusalRoute(to: router)

    let webSocketRouter = Router(context: ParleyRequestContext.self)
    hub.addWebSocketRoute(to: webSocketRouter)

    var server = HTTPServerBuilder.http1WebSocketUpgrade(
        webSocketRouter: webSocketRouter,
        configuration: .init(
            http1: .init(additionalChannelHandlers: [RefusalResponseHandler(refusals: hub.refusals)]),
            ws: WebSocketServerConfiguration(
                maxFrameSize: configuration.maxFrameBytes,
                autoPing: .enabled(timePeriod: min(configuration.heartbeatInterval, configuration.idleTimeout / 2)),
                closeTimeout: configuration.closeTimeout,
                validateUTF8: true
            )
        )
    )
    var scheme = "http"
    if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
        server = try .tls(server, tlsConfiguration: tls)
        scheme = "https"
    }

    let app = Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        services: [store],
        onServerRunning: { [scheme] channel in
            let port = channel.localAddress?.port ?? configuration.port
            logger.info("listening on \(scheme)://\(configuration.host):\(port)")
            await onServerRunning(port)
        },
        logger: logger
    )
    return ParleyApplication(application: app, drainer: ConnectionDrainer(hub: hub), logger: logger)
}

/// The running server: the Hummingbird application plus the WebSocket drainer, ordered so that on
/// graceful shutdown every WebSocket is flushed and closed with 1001 before the HTTP server stops.
public struct ParleyApplication: Service {
    let application: Application<RouterResponder<ParleyRequestContext>>
    let drainer: ConnectionDrainer
    let logger: Logger

    public func run() async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: application),
                    // Listed last, so it is the first to hear of a graceful shutdown.
                    .init(service: drainer, successTerminationBehavior: .ignore),
                ],
                logger: logger
            )
        )
        try await group.run()
    }
}
