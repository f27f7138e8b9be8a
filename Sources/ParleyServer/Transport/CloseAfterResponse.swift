import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Ends a connection whose response says `Connection: close`, or refuses a request whose body has not all
/// arrived.
///
/// Hummingbird keeps a connection open after any response unless the request asked to close it, and reads
/// whatever is left of the request's body before the next request. A refusal that comes before the body (an
/// upload over a limit, to an unknown room, from a banned client) would then go on reading, and throwing
/// away, a body of any declared length, or a chunked one that never ends. Such a response is sent with
/// `Connection: close`; after its end the socket stops sending, so the client sees the whole answer, and
/// closes for good ``grace`` later, however much the client is still sending.
final class CloseAfterResponse: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Time for the client to read the answer before the socket closes under what it still sends (closing with
    /// unread bytes resets the connection, which can cost the client the answer).
    static let grace = TimeAmount.seconds(1)

    /// The current request's body has all arrived (or it had none).
    private var requestEnded = true
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: requestEnded = false
        case .body: break
        case .end: requestEnded = true
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response):
            closing = response.headerFields[.connection]?.lowercased() == "close"
            if !closing, !requestEnded, response.status.code >= 400 {
                closing = true
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
        case .body:
            break
        case .end:
            guard closing else { break }
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in
                let context = bound.value
                context.close(mode: .output, promise: nil)
                let channel = context.channel
                context.eventLoop.scheduleTask(in: Self.grace) { channel.close(promise: nil) }
            }
            return
        }
        context.write(data, promise: promise)
    }
}
