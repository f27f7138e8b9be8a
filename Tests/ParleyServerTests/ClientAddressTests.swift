import NIOCore
import Testing

@testable import ParleyServer

/// Addresses, ranges and the client address that per-client limits count by (contract §6).
@Suite struct ClientAddressTests {
    private func peer(_ text: String) throws -> SocketAddress {
        try SocketAddress(ipAddress: text, port: 4711)
    }

    @Test func parsesNumericAddressesOnly() {
        #expect(IPAddress("192.0.2.1")?.description == "192.0.2.1")
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8:0:0:0:0:0:1")
        for bad in ["", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "fe80::1%eth0", "::g", " 1.2.3.4"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(IPAddress("::ffff:192.0.2.1") == IPAddress("192.0.2.1"))
        #expect(IPAddress("127.9.9.9")?.isLoopback == true && IPAddress("::1")?.isLoopback == true)
        #expect(IPAddress("128.0.0.1")?.isLoopback == false && IPAddress("::2")?.isLoopback == false)
    }

    @Test func rangesInCIDRNotation() throws {
        let ten = try #require(AddressRange("10.0.0.0/8"))
        #expect(ten.contains(IPAddress("10.255.1.2")!) && !ten.contains(IPAddress("11.0.0.1")!))
        #expect(ten.contains(IPAddress("::ffff:10.0.0.1")!))
        #expect(!ten.contains(IPAddress("::a00:1")!))
        let single = try #require(AddressRange("192.0.2.7"))
        #expect(single.contains(IPAddress("192.0.2.7")!) && !single.contains(IPAddress("192.0.2.8")!))
        let v6 = try #require(AddressRange("2001:db8::/32"))
        #expect(v6.contains(IPAddress("2001:db8:ffff::1")!) && !v6.contains(IPAddress("2001:db9::1")!))
        #expect(AddressRange("10.1.2.3/8") == ten)
        #expect(AddressRange("0.0.0.0/0")?.contains(IPAddress("203.0.113.1")!) == true)
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "::/129", "example.com/8", "10.0.0.0/8/8"] {
            #expect(AddressRange(bad) == nil, "\(bad)")
        }
    }

    @Test func ipv6IsCountedPerSlash64() throws {
        let one = ClientAddress(peer: try peer("2001:db8:1:2:aaaa::1"))
        #expect(one == ClientAddress(peer: try peer("2001:db8:1:2:ffff:ffff:ffff:ffff")))
        #expect(one != ClientAddress(peer: try peer("2001:db8:1:3::1")))
        #expect(one.description == "2001:db8:1:2:0:0:0:0/64")
        // IPv4 is counted per address, whether it arrives plain or IPv4-mapped.
        #expect(ClientAddress(peer: try peer("192.0.2.1")) != ClientAddress(peer: try peer("192.0.2.2")))
        #expect(ClientAddress(peer: try peer("::ffff:192.0.2.1")) == ClientAddress(peer: try peer("192.0.2.1")))
        #expect(ClientAddress(peer: nil).description == "unknown")
    }

    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() throws {
        let trusted = [AddressRange("10.0.0.0/8")!, AddressRange("fd00::/8")!]
        func client(_ peerText: String, _ forwarded: [String]) throws -> ClientAddress {
            ClientAddress(peer: try peer(peerText), forwardedFor: forwarded, trusted: trusted)
        }
        let attacker = ClientAddress(IPAddress("203.0.113.9"))
        // Not from a proxy: the header is the client's own text.
        #expect(try client("203.0.113.9", ["198.51.100.1"]) == attacker)
        // From a proxy: the right-most entry that is not a proxy itself.
        #expect(try client("10.0.0.1", ["203.0.113.9"]) == attacker)
        #expect(try client("10.0.0.1", ["198.51.100.1, 203.0.113.9"]) == attacker)
        #expect(try client("10.0.0.1", ["198.51.100.1", "203.0.113.9, 10.0.0.2"]) == attacker)
        #expect(try client("fd00::1", ["[2001:db8::5]:443"]) == ClientAddress(IPAddress("2001:db8::7")))
        #expect(try client("10.0.0.1", [" 203.0.113.9:8080 "]) == attacker)
        // Only proxies in the chain: the left-most of them.
        #expect(try client("10.0.0.1", ["10.0.0.3, 10.0.0.2"]) == ClientAddress(IPAddress("10.0.0.3")))
        // Garbage ends the walk at the last trusted hop, so a client cannot choose a key of its own.
        #expect(try client("10.0.0.1", ["unknown"]) == ClientAddress(IPAddress("10.0.0.1")))
        #expect(try client("10.0.0.1", ["203.0.113.9, 10.0.0.2, bogus"]) == ClientAddress(IPAddress("10.0.0.1")))
        #expect(try client("10.0.0.1", []) == ClientAddress(IPAddress("10.0.0.1")))
    }
}
