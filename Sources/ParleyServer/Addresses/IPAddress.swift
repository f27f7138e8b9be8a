import NIOCore

/// An IPv4 or IPv6 address as a number, for comparing against ranges and keying limits. An IPv4-mapped
/// IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4 peer) is stored as the
/// IPv4 address it carries, so the same client is one address whichever way it arrived.
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    enum Value: Hashable, Sendable {
        case v4(UInt32)
        case v6(UInt128)
    }

    let value: Value

    init(_ value: Value) {
        if case .v6(let bits) = value, bits >> 32 == 0xffff {
            self.value = .v4(UInt32(truncatingIfNeeded: bits))
        } else {
            self.value = value
        }
    }

    /// The address of an IP socket address; nil for a Unix socket.
    init?(_ socket: SocketAddress) {
        switch socket {
        case .v4(let address):
            self.init(.v4(UInt32(bigEndian: address.address.sin_addr.s_addr)))
        case .v6(let address):
            let bits = withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
            }
            self.init(.v6(bits))
        case .unixDomainSocket:
            return nil
        }
    }

    /// Parses the numeric text forms only (`192.0.2.1`, `2001:db8::1`); never a name, never a zone (`%eth0`).
    init?(_ text: some StringProtocol) {
        // Bytes, not characters: Foundation's `contains` on a string was most of an upgrade's `Host` check.
        guard !text.isEmpty, text.utf8.count <= 45, !text.utf8.contains(UInt8(ascii: "%")),
            let socket = try? SocketAddress(ipAddress: String(text), port: 0)
        else {
            return nil
        }
        self.init(socket)
    }

    /// 127.0.0.0/8 or ::1.
    var isLoopback: Bool {
        switch value {
        case .v4(let bits): bits >> 24 == 127
        case .v6(let bits): bits == 1
        }
    }

    var description: String {
        switch value {
        case .v4(let bits):
            return (0..<4).map { String(bits >> (24 - 8 * $0) & 0xff) }.joined(separator: ".")
        case .v6(let bits):
            return (0..<8).map { String(UInt16(truncatingIfNeeded: bits >> (112 - 16 * $0)), radix: 16) }.joined(separator: ":")
        }
    }
}
