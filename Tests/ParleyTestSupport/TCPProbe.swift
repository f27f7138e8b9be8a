import NIOCore
import NIOPosix

/// A plain TCP client for the tests of what happens before an upgrade: it sends any bytes (half a head,
/// nothing at all), reads HTTP responses with their headers, and sees the server close the socket.
/// Used from one task; its `channel.closeFuture` (the server closed the socket) may be awaited from any.
public final class TCPProbe {
    /// One HTTP response: status, headers (names lower-cased) and body.
    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    public struct Closed: Error {}

    public let channel: any Channel
    private var chunks: AsyncStream<ByteBuffer>.Iterator
    private var buffer: [UInt8] = []

    private init(channel: any Channel, chunks: AsyncStream<ByteBuffer>) {
        self.channel = channel
        self.chunks = chunks.makeAsyncIterator()
    }

    /// Connects to `host`, from the loopback address `source` when given (127.0.0.2 is another client address
    /// on the same machine).
    public static func connect(port: Int, host: String = "127.0.0.1", source: String? = nil) async throws -> TCPProbe {
        let (chunks, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel =
            try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Forwarder(continuation: continuation))
                }
            }
            .connect(host: host, port: port).get()
        return TCPProbe(channel: channel, chunks: chunks)
    }

    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Sends one request with `Host: 127.0.0.1:PORT` unless `headers` names another host.
    public func request(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\n"
        if !headers.contains(where: { $0.0.lowercased() == "host" }) {
            head += "Host: 127.0.0.1:\(channel.remoteAddress?.port ?? 0)\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.utf8.count)\r\n" }
        try await send(head + "\r\n" + (body ?? ""))
        return try await response()
    }

    /// The next response; throws ``Closed`` if the socket ends first.
    public func response() async throws -> Response {
        while true {
            if let response = takeResponse() { return response }
            guard let chunk = await chunks.next() else { throw Closed() }
            buffer += chunk.readableBytesView
        }
    }

    public var isOpen: Bool { channel.isActive }

    /// Whether the server closes the socket within `limit` (without waiting longer, whatever happens).
    public func closes(within limit: Duration) async -> Bool {
        let (closes, closed) = AsyncStream.makeStream(of: Void.self)
        channel.closeFuture.whenComplete { _ in closed.yield() }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await closes.first { _ in true } != nil }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
    }

    public func close() {
        channel.close(promise: nil)
    }

    private func takeResponse() -> Response? {
        guard let end = buffer.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let lines = String(decoding: buffer[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingPrefix(" ").description
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard buffer.count >= end.upperBound + length else { return nil }
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = String(decoding: buffer[end.upperBound..<end.upperBound + length], as: UTF8.self)
        buffer.removeFirst(end.upperBound + length)
        return Response(status: status, headers: headers, body: body)
    }
}

private final class Forwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let continuation: AsyncStream<ByteBuffer>.Continuation

    init(continuation: AsyncStream<ByteBuffer>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
}

extension TCPProbe.Response {
    /// The `error.code` of a JSON error body.
    public var errorCode: String? { HTTPReply(status: status, body: body).errorCode }
}
