import Foundation
import Testing

/// A throwaway certificate and key for `localhost`, made by openssl in a directory of their own that goes
/// with the value.
public struct SelfSignedCertificate: Sendable {
    public let directory: TemporaryDirectory
    public var certificate: String { directory.url.appendingPathComponent("cert.pem").path }
    public var key: String { directory.url.appendingPathComponent("key.pem").path }

    public static let openssl = "/usr/bin/openssl"

    public static func make() async throws -> SelfSignedCertificate {
        try #require(FileManager.default.isExecutableFile(atPath: openssl), "openssl is not installed")
        let made = SelfSignedCertificate(directory: try TemporaryDirectory(prefix: "parley-tls"))
        let openssl = try await ChildProcess(
            Self.openssl,
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", made.key, "-out", made.certificate, "-days", "1", "-subj", "/CN=localhost"]
        )
        #expect(await openssl.exitStatus() == 0)
        return made
    }
}
