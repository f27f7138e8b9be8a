import Foundation
import ParleyProtocol

/// Where a chat client connects: the server's WebSocket and HTTP bases and, when the URL names one, a room.
///
/// Accepts `ws://HOST:PORT`, `wss://HOST:PORT`, `http(s)://HOST:PORT` (optionally ending in `/ws`),
/// and invite URLs `http(s)://HOST:PORT/r/CODE`, which also name the room.
public struct ChatEndpoint: Hashable, Sendable {
    /// `ws` or `wss`.
    public var webSocketScheme: String
    /// `http` or `https`, matching ``webSocketScheme``.
    public var httpScheme: String
    /// Host, with brackets for IPv6 literals.
    public var host: String
    public var port: Int?
    /// The room named by an invite URL or a `room=` query, if any.
    public var room: String?
    /// The key in an owner or moderator link's fragment (`#key=KEY`, §12), if any.
    public var key: String?

    /// Parses `url`, or throws ``ChatClientError`` with a reason for a malformed one.
    public init(parsing url: String) throws(ChatClientError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw .invalidURL(url, "expected ws://HOST:PORT, wss://…, or an invite URL http://HOST:PORT/r/CODE")
        }
        switch scheme {
        case "ws", "http":
            (webSocketScheme, httpScheme) = ("ws", "http")
        case "wss", "https":
            (webSocketScheme, httpScheme) = ("wss", "https")
        default:
            throw .invalidURL(url, "scheme \(scheme) is not ws, wss, http or https")
        }
        guard let host = components.host, !host.isEmpty else {
            throw .invalidURL(url, "no host")
        }
        self.host = host.contains(":") ? "[\(host)]" : host
        if let port = components.port {
            guard (1...65535).contains(port) else { throw .invalidURL(url, "port \(port) is out of range") }
            self.port = port
        }
        let segments = components.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch segments.count {
        case 0:
            room = nil
        case 1 where segments[0] == "ws":
            room = nil
        case 2 where segments[0] == "r":
            room = segments[1].removingPercentEncoding ?? segments[1]
        default:
            throw .invalidURL(url, "path \(components.path) is neither empty, /ws, nor an invite /r/CODE")
        }
        if let queryRoom = components.queryItems?.first(where: { ["room", "roomCode", "token"].contains($0.name) })?.value,
            !queryRoom.isEmpty
        {
            room = queryRoom
        }
        if let fragment = components.fragment, fragment.hasPrefix("key="), fragment.count > 4 {
            key = String(fragment.dropFirst(4))
        }
    }

    /// `scheme://host[:port]` for HTTP requests.
    public var httpBase: String { "\(httpScheme)://\(authority)" }

    /// `scheme://host[:port]` for WebSockets.
    public var webSocketBase: String { "\(webSocketScheme)://\(authority)" }

    /// `host[:port]`.
    public var authority: String { port.map { "\(host):\($0)" } ?? host }

    /// The `/ws` URL with `query` percent-encoded.
    public func webSocketURL(query: [(String, String)]) -> String {
        webSocketBase + "/ws" + Self.encode(query)
    }

    /// The same `/ws` URL over plain HTTP, to read a refusal's JSON body.
    public func httpURL(forWebSocketQuery query: [(String, String)]) -> String {
        httpBase + "/ws" + Self.encode(query)
    }

    static func encode(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+;?/#")
        let pairs = query.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }
        return "?" + pairs.joined(separator: "&")
    }
}
