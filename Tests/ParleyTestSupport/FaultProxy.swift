import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy on 127.0.0.1 that stands between nodes and PostgreSQL and breaks the path on command:
/// `blackhole()` holds every byte and every close in both directions (a network that went silent, with
/// sockets that stay open), `resume()` delivers what was held, in order, and forwards again, `delay(_:)`
/// forwards late, and `reset()` closes every connection at once. What a node sent into the blackhole
/// reaches PostgreSQL on `resume()`, even from a connection the node has closed meanwhile: a call that
/// timed out then takes effect after all, the worst case a node must reconcile.
public final class FaultProxy: Sendable {
    public enum Mode: Sendable, Equatable {
        case pass
        case blackhole
        case delay(Duration)
        /// Every connection is closed as soon as it is accepted, as by a database that is down.
        case refuse
    }

    private enum Item: Sendable {
        case bytes(ByteBuffer)
        case close
    }

    private struct State {
        var mode = Mode.pass
        var held: [(to: any Channel, item: Item)] = []
        var channels: [ObjectIdentifier: any Channel] = [:]
        /// Connections held as by a blackhole while the mode passes others (``blackholeOpenConnections()``).
        var silenced: Set<ObjectIdentifier> = []
    }

    private final class Core: Sendable {
        let state = Mutex(State())

        func track(_ channel: any Channel) {
            let key = ObjectIdentifier(channel)
            state.withLock { $0.channels[key] = channel }
            channel.closeFuture.whenComplete { _ in
                _ = self.state.withLock { $0.channels.removeValue(forKey: key) }
            }
        }

        /// Passes `item` on to `peer` as the mode says; under the lock, so a resume's backlog goes first.
        func forward(_ item: Item, to peer: any Channel) {
            state.withLock { state in
                switch state.mode {
                case .pass where state.silenced.contains(ObjectIdentifier(peer)): state.held.append((peer, item))
                case .pass: Self.deliver(item, to: peer)
                case .blackhole: state.held.append((peer, item))
                case .refuse: Self.deliver(.close, to: peer)
                case .delay(let delay):
                    peer.eventLoop.scheduleTask(
                        in: .nanoseconds(delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)
                    ) {
                        Self.deliver(item, to: peer)
                    }
                }
            }
        }

        /// Always through the peer's event loop, never inline: the lock is held, and order is kept.
        static func deliver(_ item: Item, to peer: any Channel) {
            peer.eventLoop.execute {
                switch item {
                case .bytes(let bytes): peer.writeAndFlush(bytes, promise: nil)
                case .close: peer.close(promise: nil)
                }
            }
        }
    }

    /// Relays what one side reads to the other side; what the client side sends before PostgreSQL's side
    /// is connected waits here.
    private final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let core: Core
        /// Read and written on the channel's event loop only.
        private var peer: (any Channel)?
        private var early: [Item] = []

        init(core: Core, peer: (any Channel)?) {
            self.core = core
            self.peer = peer
        }

        func attach(_ peer: any Channel) {
            self.peer = peer
            for item in early { core.forward(item, to: peer) }
            early = []
        }

        private func pass(_ item: Item) {
            if let peer {
                core.forward(item, to: peer)
            } else {
                early.append(item)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pass(.bytes(unwrapInboundIn(data)))
        }

        func channelInactive(context: ChannelHandlerContext) {
            pass(.close)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    public let port: Int
    private let core: Core
    private let server: any Channel

    /// Listens on a free port and forwards each connection to `upstreamHost:upstreamPort`.
    public init(upstreamHost: String, upstreamPort: Int) async throws {
        let core = Core()
        self.core = core
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                if core.state.withLock({ $0.mode == .refuse }) { return child.close() }
                let relay = Relay(core: core, peer: nil)
                core.track(child)
                ClientBootstrap(group: child.eventLoop)
                    .channelInitializer { channel in
                        core.track(channel)
                        return channel.pipeline.addHandler(Relay(core: core, peer: child))
                    }
                    .connect(host: upstreamHost, port: upstreamPort)
                    .whenComplete { result in
                        switch result {
                        case .success(let channel): relay.attach(channel)
                        case .failure: child.close(promise: nil)
                        }
                    }
                return child.pipeline.addHandler(relay)
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        port = server.localAddress?.port ?? 0
    }

    /// `url` (a `postgres://` URL) with its port replaced by this proxy's.
    public func url(for url: String) -> String {
        var components = URLComponents(string: url)!
        components.port = port
        return components.string!
    }

    public func blackhole() { core.state.withLock { $0.mode = .blackhole } }

    /// Holds every byte and close of the connections open now, in both directions, as ``blackhole()`` does,
    /// while connections opened from now on pass: a server that failed over and left its old sockets silent.
    public func blackholeOpenConnections() {
        core.state.withLock { $0.silenced = Set($0.channels.keys) }
    }

    /// Closes every connection and refuses new ones until ``resume()``.
    public func refuse() {
        reset()
        core.state.withLock { $0.mode = .refuse }
    }

    public func delay(_ delay: Duration) { core.state.withLock { $0.mode = .delay(delay) } }

    /// Keeps holding what the connections open now send (and what was held), while connections opened from
    /// now on pass: after ``blackhole()``, a path that came back for new connections only.
    public func passNewConnections() {
        core.state.withLock { state in
            state.silenced = Set(state.channels.keys)
            state.mode = .pass
        }
    }

    /// Delivers what was held, in order, and forwards again.
    public func resume() {
        core.state.withLock { state in
            state.mode = .pass
            state.silenced = []
            for (peer, item) in state.held { Core.deliver(item, to: peer) }
            state.held = []
        }
    }

    /// Closes every connection through the proxy now, dropping what was held; the proxy forwards again.
    public func reset() {
        let channels = core.state.withLock { state in
            state.mode = .pass
            state.held = []
            state.silenced = []
            return Array(state.channels.values)
        }
        for channel in channels {
            // Linger 0: the close is a reset, as from a dropped network path.
            let lingered = (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
            (lingered ?? channel.eventLoop.makeSucceededVoidFuture()).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// How many connections (both sides counted) are open through the proxy.
    public var connectionCount: Int { core.state.withLock { $0.channels.count } }

    /// How many chunks of bytes the blackhole holds.
    public var heldCount: Int { core.state.withLock { $0.held.count } }

    public func close() {
        reset()
        server.close(promise: nil)
    }
}
