/// An address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare address is a range of one), as
/// given to `--trusted-proxy`.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    let network: IPAddress
    let prefixLength: Int

    /// Parses `ADDRESS/PREFIX` or `ADDRESS`; bits past the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let width = if case .v4 = address.value { 32 } else { 128 }
        var length = width
        if parts.count == 2 {
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let given = Int(parts[1]), given <= width else { return nil }
            length = given
        }
        guard let network = Self.masked(address, length) else { return nil }
        self.network = network
        self.prefixLength = length
    }

    /// Whether `address` lies in the range (an IPv4 range never holds an IPv6 address, nor the reverse).
    func contains(_ address: IPAddress) -> Bool {
        Self.masked(address, prefixLength) == network
    }

    private static func masked(_ address: IPAddress, _ length: Int) -> IPAddress? {
        switch address.value {
        case .v4(let bits):
            guard length <= 32 else { return nil }
            return IPAddress(.v4(length == 0 ? 0 : bits & ~UInt32(0) << (32 - length)))
        case .v6(let bits):
            return IPAddress(.v6(length == 0 ? 0 : bits & ~UInt128(0) << (128 - length)))
        }
    }

    public var description: String { "\(network)/\(prefixLength)" }
}
