import Foundation
import JWTKit

/// The keys that sign identity tokens (contract §13): an HS256 secret and the public keys of a PEM file,
/// each read and checked once, at start-up.
public struct IdentityKeys: Sendable {
    enum Key: Sendable {
        case hmac(HMACKey)
        case rsa(Insecure.RSA.PublicKey)
        case ecdsa(ES256PublicKey)
        case eddsa(EdDSA.PublicKey)

        /// The `alg` a token signed with this key names.
        var algorithm: String {
            switch self {
            case .hmac: "HS256"
            case .rsa: "RS256"
            case .ecdsa: "ES256"
            case .eddsa: "EdDSA"
            }
        }
    }

    let keys: [Key]

    /// A problem with `--auth-secret` or `--auth-public-key`, said so that the operator can fix it.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the keys; no secret and no path gives no keys (tokens are then not accepted).
    public init(secret: String?, publicKeyPath: String?) throws(Invalid) {
        var keys: [Key] = []
        if let secret {
            // HS256 with a short secret can be brute-forced offline from one token.
            guard secret.utf8.count >= 32 else { throw Invalid(description: "--auth-secret must be at least 32 bytes") }
            keys.append(.hmac(HMACKey(from: secret)))
        }
        if let publicKeyPath {
            let text: String
            do {
                text = try String(contentsOfFile: publicKeyPath, encoding: .utf8)
            } catch {
                throw Invalid(description: "--auth-public-key \(publicKeyPath) cannot be read")
            }
            let blocks = Self.blocks(in: text)
            guard !blocks.isEmpty else { throw Invalid(description: "--auth-public-key \(publicKeyPath) holds no PEM block") }
            for (index, block) in blocks.enumerated() {
                guard let key = Self.publicKey(block) else {
                    throw Invalid(
                        description:
                            "--auth-public-key \(publicKeyPath): block \(index + 1) is not an RSA (2048 bits or more), P-256 or Ed25519 public key"
                    )
                }
                keys.append(key)
            }
        }
        self.keys = keys
    }

    public var isEmpty: Bool { keys.isEmpty }

    /// Each `-----BEGIN …-----` to `-----END …-----` block, markers included.
    static func blocks(in text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-----BEGIN ") {
                current = [Substring(trimmed)]
            } else if trimmed.hasPrefix("-----END "), var lines = current {
                lines.append(Substring(trimmed))
                blocks.append(lines.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(Substring(trimmed))
            }
        }
        return blocks
    }

    /// A public key block as whichever kind parses it; private keys are refused, so that a mix-up never
    /// leaves a signing key on the chat server.
    private static func publicKey(_ block: String) -> Key? {
        guard !block.contains("PRIVATE KEY") else { return nil }
        if let key = try? Insecure.RSA.PublicKey(pem: block) { return .rsa(key) }
        if let key = try? ES256PublicKey(pem: block) { return .ecdsa(key) }
        if let key = try? EdDSA.PublicKey(pem: block) { return .eddsa(key) }
        return nil
    }
}
