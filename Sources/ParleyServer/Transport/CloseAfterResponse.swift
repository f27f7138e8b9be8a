import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Ends a connection whose response says `Connection: close`.
///
/// Hummingbird keeps a connection open after any response unless the request asked to close it, and reads
/// whatever is left of the request's body before the next request. A route that refuses a body it will not
/// read (an upload over a limit) says `Connection: close` instead; without this the server would go on
/// reading, and throwing away, a body of any declared length, or a chunked one that never ends. After the
/// response's end the socket stops sending, so the client sees the whole answer, and closes for good
/// ``grace`` later, however much the client is still sending.
final class CloseAfterResponse: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Time for the client to read the answer before the socket closes under what it still sends (closing with
    /// unread bytes resets the connection, which can cost the client the answer).
    static let grace = TimeAmount.seconds(1)

    private var closing = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            closing = response.headerFields[.connection]?.lowercased() == "close"
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
