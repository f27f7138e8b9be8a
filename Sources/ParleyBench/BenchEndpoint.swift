import Foundation

/// The server under test: `ws(s)://HOST:PORT` or `http(s)://HOST:PORT`, optionally ending in `/ws`.
public struct BenchEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `ws://host:port` or `wss://host:port`.
    public var webSocketBase: String

    /// Parses `url`, or throws ``BenchError`` with kind `.usage`.
    public init(parsing url: String) throws(BenchError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else {
            throw BenchError(kind: .usage, message: "malformed URL \(url): expected ws://HOST:PORT or http://HOST:PORT")
        }
        let webSocketScheme: String
        switch scheme {
        case "ws", "http": webSocketScheme = "ws"
        case "wss", "https": webSocketScheme = "wss"
        default: throw BenchError(kind: .usage, message: "malformed URL \(url): scheme \(scheme) is not ws, wss, http or https")
        }
        guard components.path.isEmpty || components.path == "/" || components.path == "/ws" else {
            throw BenchError(kind: .usage, message: "malformed URL \(url): give the server's base URL, not the path \(components.path)")
        }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let authority = (bare.contains(":") ? "[\(bare)]" : bare) + (components.port.map { ":\($0)" } ?? "")
        webSocketBase = "\(webSocketScheme)://\(authority)"
    }

    /// The `/ws` URL for one member (room codes and bench nicks need no percent-encoding).
    public func webSocketURL(room: String, nick: String) -> String {
        "\(webSocketBase)/ws?room=\(room)&nick=\(nick)"
    }

    public var description: String { webSocketBase }
}

extension BenchEndpoint {
    /// The `/ws` URL for a member coming back: `since` and `session` as a resuming client sends them.
    public func webSocketURL(room: String, nick: String, since: Int64?, session: String?) -> String {
        var url = webSocketURL(room: room, nick: nick)
        if let since { url += "&since=\(since)" }
        if let session {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&+=#")
            url += "&session=" + (session.addingPercentEncoding(withAllowedCharacters: allowed) ?? session)
        }
        return url
    }
}
