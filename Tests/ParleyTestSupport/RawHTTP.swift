import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One HTTP/1.1 exchange over a fresh socket (`Connection: close`) with binary bodies and the answer's headers.
public struct RawHTTP: Sendable {
    public var status: Int
    /// Header names lowercased.
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }

    public static func send(
        port: Int,
        method: String,
        path: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> RawHTTP {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let body { head += "Content-Length: \(body.count)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        let collected = Collected()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(collected: collected)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var buffer = ByteBuffer(string: head)
        if let body { buffer.writeBytes(body) }
        // The server may refuse early and close while the body is still going out.
        try? await channel.writeAndFlush(buffer)
        try await channel.closeFuture.get()
        return try parse(collected.bytes.withLock { $0 }, method: method)
    }

    static func parse(_ bytes: [UInt8], method: String) throws -> RawHTTP {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            throw Malformed()
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { throw Malformed() }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[(end + 4)...])
        if headers["transfer-encoding"] == "chunked" { body = try dechunk(body) }
        return RawHTTP(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { throw Malformed() }
            let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
            if size == 0 { break }
            out += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
            index = lineEnd + 2 + size + 2
        }
        return out
    }

    struct Malformed: Error {}

    private final class Collected: Sendable {
        let bytes = Mutex<[UInt8]>([])
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let collected: Collected

        init(collected: Collected) { self.collected = collected }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            collected.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
    }
}

extension TestServer {
    /// One HTTP request with a binary body and the answer's headers.
    public func raw(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> RawHTTP {
        try await RawHTTP.send(port: port, method: method, path: path, headers: headers, body: body)
    }
}
