import NIOCore

/// The address per-client limits are counted by: an IPv4 address, or the /64 network of an IPv6 address
/// (one subscriber usually holds a whole /64 and could otherwise rotate through it).
struct ClientAddress: Hashable, Sendable, CustomStringConvertible {
    private enum Key: Hashable {
        case v4(UInt32)
        case v6Network(UInt64)
        /// A peer without an IP address (a Unix socket); all of them count as one client.
        case unknown
    }

    private let key: Key

    init(_ address: IPAddress?) {
        switch address?.value {
        case .v4(let bits): key = .v4(bits)
        case .v6(let bits): key = .v6Network(UInt64(truncatingIfNeeded: bits >> 64))
        case nil: key = .unknown
        }
    }

    /// The socket's peer, with no proxy taken into account.
    init(peer: SocketAddress?) {
        self.init(peer.flatMap(IPAddress.init))
    }

    /// The client behind `peer`: the peer itself, or, when the peer is a trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not itself trusted. An entry that is not an address ends the walk
    /// at the last trusted hop, so text a client wrote cannot become its address.
    ///
    /// - Parameters:
    ///   - peer: the socket's peer address.
    ///   - forwardedFor: the values of every `X-Forwarded-For` header, in order.
    ///   - trusted: `--trusted-proxy` ranges.
    init(peer: SocketAddress?, forwardedFor: some Sequence<String>, trusted: [AddressRange]) {
        guard var client = peer.flatMap(IPAddress.init) else {
            self.init(nil)
            return
        }
        func isTrusted(_ address: IPAddress) -> Bool { trusted.contains { $0.contains(address) } }
        if isTrusted(client) {
            let entries = forwardedFor.flatMap { $0.split(separator: ",") }
            for entry in entries.reversed() {
                guard let hop = Self.address(forwardedEntry: entry) else { break }
                client = hop
                if !isTrusted(hop) { break }
            }
        }
        self.init(client)
    }

    /// One `X-Forwarded-For` entry: an address, optionally with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
    static func address(forwardedEntry entry: Substring) -> IPAddress? {
        var text = entry.drop { $0 == " " || $0 == "\t" }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            text = text[text.index(after: text.startIndex)..<close]
        } else if let colon = text.firstIndex(of: ":"), text.lastIndex(of: ":") == colon {
            text = text[..<colon]
        }
        return IPAddress(text)
    }

    var description: String {
        switch key {
        case .v4(let bits): IPAddress(.v4(bits)).description
        case .v6Network(let network): IPAddress(.v6(UInt128(network) << 64)).description + "/64"
        case .unknown: "unknown"
        }
    }
}
