import HTTPTypes
import Hummingbird
import NIOCore

/// Request context for every route: knows its channel, so routes can see the client's address.
public struct ParleyRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// Who a valid `Authorization: Bearer JWT` proved the client is (§13), set by ``IdentityMiddleware``.
    var identity: VerifiedIdentity?
    /// Under `--auth required`, the request carried a Bearer value that is not a token: it stands in for one only
    /// if the route finds it is a key that grants something (or the admin token), else the route answers 401.
    var keyMustGrant = false

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    public var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// The address per-client limits count `request` under: its peer, or behind a trusted proxy the
    /// client that `X-Forwarded-For` names.
    func clientAddress(of request: Request, trustedProxies: [AddressRange]) -> ClientAddress {
        ClientAddress(peer: channel.remoteAddress, forwardedFor: request.headers[values: .xForwardedFor], trusted: trustedProxies)
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
