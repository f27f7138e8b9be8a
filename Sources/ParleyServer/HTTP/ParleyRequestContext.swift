import Hummingbird
import NIOCore

/// Request context for every route: knows its channel, so routes can see the client's address.
public struct ParleyRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// The address connection limits are counted by.
    var clientAddress: String { channel.remoteAddress?.ipAddress ?? "unknown" }
}
