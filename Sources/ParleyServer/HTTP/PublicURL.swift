/// `--public-url`: the URL users reach the server at, e.g. `https://chat.example` or
/// `https://example.com/chat` behind a proxy. Invite links and `ws_url` are built from it, and its origin
/// and host are accepted in `Origin` and `Host`.
public struct PublicURL: Sendable, Equatable, CustomStringConvertible {
    /// The URL without a trailing `/`, e.g. `https://example.com/chat`.
    public let base: String
    /// What a browser sends as `Origin` from a page there: scheme, lower-case host, and a port other than
    /// the scheme's default.
    let origin: String
    /// The lower-case host, as a `Host` header names it (an IPv6 address in brackets), without the port.
    let host: String
    /// `https`.
    let isSecure: Bool

    /// Parses `http://HOST[:PORT][/PATH]` or `https://…`; nil for anything else (a query, a fragment, user
    /// information, an empty host or a bad port).
    public init?(_ text: String) {
        let lower = text.lowercased()
        if lower.hasPrefix("https://") {
            isSecure = true
        } else if lower.hasPrefix("http://") {
            isSecure = false
        } else {
            return nil
        }
        let scheme = isSecure ? "https" : "http"
        let rest = text.dropFirst(scheme.count + 3)
        guard !rest.contains("?"), !rest.contains("#"), !rest.contains(" ") else { return nil }
        let authority = rest.prefix { $0 != "/" }
        var path = rest.dropFirst(authority.count)
        while path.last == "/" { path = path.dropLast() }
        guard !authority.contains("@"), let (host, port) = HostPolicy.split(authority: authority), !host.isEmpty else { return nil }
        if let port, port.isEmpty || port.count > 5 || !port.allSatisfy({ $0.isASCII && $0.isNumber }) || Int(port)! > 65535 {
            return nil
        }
        self.host = host.lowercased()
        let defaultPort = isSecure ? "443" : "80"
        origin = "\(scheme)://\(self.host)" + (port.map { $0 == defaultPort ? "" : ":\($0)" } ?? "")
        base = "\(scheme)://\(authority.lowercased())\(path)"
    }

    /// `base` with `ws` or `wss` for its scheme.
    var webSocketBase: String {
        (isSecure ? "wss" : "ws") + base.drop { $0 != ":" }
    }

    public var description: String { base }
}
