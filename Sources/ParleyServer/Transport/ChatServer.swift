import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The listening socket: accepts connections and sets each up with ``ChatChannel`` (behind TLS when
/// configured), starting a task only for a socket that needs one.
///
/// HummingbirdCore's server hands every accepted socket through an async sequence to a task of its own. A
/// WebSocket member joined and greeted in its upgrade (``ChatChannel/UpgradeResult/greeted``) has nothing for
/// that task to do, yet the sequence, the task and its wake-ups were about a seventh of the server's CPU in a
/// reconnect storm (docs/PERFORMANCE.md, "Seventh round"). Here the socket is set up in the accept's tick, and
/// only an HTTP request, a refusal or a member still to be greeted goes on to a task, in one task group, so that
/// a graceful shutdown still waits for them.
struct ChatServer<Child: ServerChildChannel>: Service where Child.Value == ChatChannel.Value {
    let child: Child
    let host: String
    let port: Int
    /// Accepted sockets the process may hold at once (``OpenFiles/socketCapacity()``).
    let socketCapacity: Int
    let metrics: ParleyMetrics
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    /// Called with the listening channel once it is bound.
    let onServerRunning: @Sendable (any Channel) async -> Void

    func run() async throws {
        let (sockets, waiting) = AsyncStream.makeStream(of: ChatChannel.Value.self)
        let quiescing = ServerQuiescingHelper(group: eventLoopGroup)
        let listener = try await bootstrap(quiescing: quiescing, waiting: waiting).bind(host: host, port: port).get()
        await withGracefulShutdownHandler {
            await onServerRunning(listener)
            await withDiscardingTaskGroup { group in
                for await socket in sockets {
                    group.addTask { await child.handle(value: socket, logger: logger) }
                }
            }
        } onGracefulShutdown: {
            // Stops accepting and tells every socket to finish: an HTTP connection after its request, which its
            // task waits for. WebSocket members are the drainer's, which gave up on any still open after its
            // time; they do not hold the shutdown up, as they did not under HummingbirdCore's server.
            quiescing.initiateShutdown(promise: nil)
            listener.closeFuture.whenComplete { _ in waiting.finish() }
        }
        // Cancelled rather than shut down: the listener goes too.
        try? await listener.close()
    }

    private func bootstrap(quiescing: ServerQuiescingHelper, waiting: AsyncStream<ChatChannel.Value>.Continuation) -> ServerBootstrap {
        ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptGate(capacity: socketCapacity, metrics: metrics, logger: logger))
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [child, logger] channel in
                child.setup(channel: channel, logger: logger).map { socket in
                    socket.upgradeResult.whenComplete { result in
                        switch result {
                        case .success(.greeted):
                            // Lives on its event loop alone.
                            break
                        case .success:
                            // After the shutdown began, nobody serves it any more.
                            if case .terminated = waiting.yield(socket) { socket.channel.close(promise: nil) }
                        case .failure(let error):
                            logger.debug("connection ended before a request", metadata: ["error": "\(error)"])
                            socket.channel.close(promise: nil)
                        }
                    }
                }
            }
    }
}

/// Holds the listener's reading off while the process holds `capacity` accepted sockets (``OpenFiles``), and
/// for a second when `accept` fails for want of file descriptors or kernel memory anyway.
///
/// Past the capacity, new connections wait in the kernel's backlog until a socket closes: the process never
/// reaches its open-file limit, where libdispatch, which reads `/proc` on its own threads, stops the process.
///
/// After a failed `accept` the listening socket stays readable, so the event loop would try again at once,
/// forever, and starve the members it also serves. NIO's `AcceptBackoffHandler` holds back the listener's next
/// read, but when the first `accept` of a read fails, NIO still waits for the socket to be readable and never
/// asks for that read: the loop spun at a whole CPU. Turning the listener's automatic reading off takes it out
/// of the event loop's poll until it is turned on again.
final class AcceptGate: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    static let pause = TimeAmount.seconds(1)
    private let logger: Logger
    private let metrics: ParleyMetrics
    private let sockets: OpenSockets
    private var pausedAfterFailure = false
    private var full = false
    /// A server held at its capacity pauses and reopens with every socket that comes and goes: warned once a minute.
    private var nextFullWarning = NIODeadline.uptimeNanoseconds(0)

    /// Turns the listener's reading on or off (tests watch it here: an `EmbeddedChannel` keeps no `autoRead`).
    private let setReading: (any Channel, Bool) -> Void

    init(
        capacity: Int,
        metrics: ParleyMetrics,
        logger: Logger,
        setReading: @escaping (any Channel, Bool) -> Void = { listener, on in
            try? listener.syncOptions?.setOption(ChannelOptions.autoRead, value: on)
        }
    ) {
        self.sockets = OpenSockets(capacity: capacity)
        self.metrics = metrics
        self.logger = logger
        self.setReading = setReading
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let socket = unwrapInboundIn(data)
        if sockets.open(), !full {
            full = true
            metrics.acceptPausedAtCapacity.increment()
            let now = NIODeadline.now()
            if now >= nextFullWarning {
                nextFullWarning = now + .minutes(1)
                logger.warning("accepting paused: the open-file limit allows \(sockets.capacity) sockets at a time")
            }
            updateReading(context.channel)
        }
        let gate = NIOLoopBound(self, eventLoop: context.eventLoop)
        let listener = context.channel
        socket.closeFuture.whenComplete { [sockets] _ in
            // Only the close that frees the first slot hops to the listener's loop.
            guard sockets.close() else { return }
            listener.eventLoop.execute { gate.value.reopen(listener) }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let failed = error as? IOError, [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(failed.errnoCode) else {
            return context.fireErrorCaught(error)
        }
        guard !pausedAfterFailure else { return }
        pausedAfterFailure = true
        metrics.acceptPausedAfterFailure.increment()
        logger.warning("accepting paused for a second", metadata: ["error": "\(failed)"])
        let channel = context.channel
        updateReading(channel)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) {
            self.pausedAfterFailure = false
            self.updateReading(channel)
        }
    }

    private func reopen(_ listener: any Channel) {
        guard full, !sockets.isFull else { return }
        full = false
        updateReading(listener)
    }

    private func updateReading(_ listener: any Channel) {
        setReading(listener, !(full || pausedAfterFailure))
    }
}

@available(*, unavailable)
extension AcceptGate: Sendable {}

/// The count of accepted sockets still open, shared by the listener's loop (which counts them in) and the
/// sockets' own loops (which count them out).
final class OpenSockets: Sendable {
    let capacity: Int
    private let count = Atomic<Int>(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Counts one socket in; true when that fills the capacity.
    func open() -> Bool {
        count.add(1, ordering: .relaxed).newValue >= capacity
    }

    /// Counts one socket out; true when that frees the first slot.
    func close() -> Bool {
        count.subtract(1, ordering: .relaxed).oldValue == capacity
    }

    var isFull: Bool { count.load(ordering: .relaxed) >= capacity }
}
