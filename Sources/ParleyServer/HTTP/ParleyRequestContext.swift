import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Request context for every route: knows its channel, so WebSocket routes can see the client's address
/// and tie per-connection bookkeeping to the channel's life.
public struct ParleyRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }

    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// The address connection limits are counted by.
    var clientAddress: String { channel.remoteAddress?.ipAddress ?? "unknown" }
}
