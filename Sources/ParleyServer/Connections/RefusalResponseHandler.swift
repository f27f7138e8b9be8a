import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Why each declined upgrade was declined, until its response is written.
final class UpgradeRefusals: Sendable {
    private let refusals = Mutex([ObjectIdentifier: APIError]())

    func record(_ error: APIError, for channel: any Channel) {
        let key = ObjectIdentifier(channel)
        refusals.withLock { $0[key] = error }
        channel.closeFuture.whenComplete { _ in self.refusals.withLock { _ = $0.removeValue(forKey: key) } }
    }

    func take(for channel: any Channel) -> APIError? {
        refusals.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}

/// HummingbirdWebSocket answers every declined upgrade with a bare `400`. The contract wants the refusal's
/// own status and JSON body (§2), so this handler, in the HTTP pipeline of a declined upgrade, swaps them in.
final class RefusalResponseHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let refusals: UpgradeRefusals
    private var body: ByteBuffer?

    init(refusals: UpgradeRefusals) {
        self.refusals = refusals
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status == .badRequest && body == nil:
            guard let refusal = refusals.take(for: context.channel) else {
                context.write(data, promise: promise)
                return
            }
            let body = refusal.body
            head.status = refusal.status
            head.headerFields[.contentType] = "application/json; charset=utf-8"
            head.headerFields[.contentLength] = "\(body.readableBytes)"
            self.body = body
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end(let trailers) where body != nil:
            context.write(wrapOutboundOut(.body(body!)), promise: nil)
            body = nil
            context.write(wrapOutboundOut(.end(trailers)), promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}
