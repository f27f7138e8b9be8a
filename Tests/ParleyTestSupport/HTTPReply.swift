import Foundation

/// An HTTP answer.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: String

    public init(status: Int, body: String) {
        self.status = status
        self.body = body
    }

    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// The `error.code` of an error body.
    public var errorCode: String? {
        (json["error"] as? [String: Any])?["code"] as? String
    }

    public static func send(port: Int, method: String, path: String, body: String?, headers: [(String, String)]) async throws -> HTTPReply {
        let bytes = Array((body ?? "").utf8)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if body != nil { request += "Content-Type: application/json\r\nContent-Length: \(bytes.count)\r\n" }
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let (status, text) = try await RawSocket.exchange(port: port, request: Array(request.utf8) + bytes)
        return HTTPReply(status: status, body: text)
    }
}
