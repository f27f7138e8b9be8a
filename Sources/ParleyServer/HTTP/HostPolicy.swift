/// Which `Host` and `Origin` headers the server accepts (contract §2, §6 and §16).
struct HostPolicy: Sendable {
    /// The server listens on a loopback address, so only loopback names and the public host may appear
    /// in `Host`: a page elsewhere cannot reach it by pointing a name of its own at 127.0.0.1.
    let checksHost: Bool
    let publicURL: PublicURL?
    let allowedOrigins: [String]

    init(configuration: ServerConfiguration) {
        let listen = configuration.host.lowercased()
        checksHost = listen == "localhost" || IPAddress(listen.trimmingBrackets)?.isLoopback == true
        publicURL = configuration.publicURL
        allowedOrigins = configuration.allowedOrigins
    }

    /// A request without `Host` (HTTP/1.0) cannot come from a browser by DNS rebinding.
    func allows(host: String?) -> Bool {
        guard checksHost, let host else { return true }
        guard let (name, _) = Self.split(authority: host[...]) else { return false }
        let lower = name.lowercased()
        return lower == "localhost" || lower == "localhost." || IPAddress(lower.trimmingBrackets)?.isLoopback == true
            || lower == publicURL?.host
    }

    /// Absent, `ws:`/`wss:` (sent by non-browser clients; treated as absent), listed with
    /// `--allowed-origin` (or `*` is), the `--public-url` origin, or the same origin as `Host`.
    func allows(origin: String?, host: String?) -> Bool {
        guard let origin, !origin.hasPrefix("ws://"), !origin.hasPrefix("wss://") else { return true }
        if allowedOrigins.contains("*") || allowedOrigins.contains(origin) { return true }
        if let publicURL, origin.lowercased() == publicURL.origin { return true }
        guard let host, let separator = origin.range(of: "://") else { return false }
        return origin[separator.upperBound...] == host[...]
    }

    /// `name[:port]` or `[v6][:port]` split into name (brackets kept) and port; nil when malformed.
    static func split(authority: Substring) -> (Substring, Substring?)? {
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            let name = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if rest.isEmpty { return (name, nil) }
            guard rest.first == ":" else { return nil }
            return (name, rest.dropFirst())
        }
        guard let colon = authority.firstIndex(of: ":") else { return (authority, nil) }
        guard authority.lastIndex(of: ":") == colon else { return nil }
        return (authority[..<colon], authority[authority.index(after: colon)...])
    }
}

extension StringProtocol {
    /// `::1` for `[::1]`.
    fileprivate var trimmingBrackets: SubSequence {
        first == "[" && last == "]" ? dropFirst().dropLast() : self[...]
    }
}
