import Foundation
import JWTKit
import ParleyProtocol

/// Checks identity tokens (contract §13) with jwt-kit: the signature against the configured keys, then
/// `exp`, then the room. Built only when a key is configured.
///
/// jwt-kit's key collection is an actor, so a check is always `async`: the WebSocket admission runs it on
/// ``ConnectionWork``, never on the event loop. There is one collection per algorithm, chosen by the token's
/// `alg` header, so a token is only ever tried against keys of the kind it claims.
final class TokenVerifier: Sendable {
    let mode: AuthMode
    private let collections: [String: JWTKeyCollection]

    private init(mode: AuthMode, collections: [String: JWTKeyCollection]) {
        self.mode = mode
        self.collections = collections
    }

    /// Nil when no key is configured: tokens are then refused and nothing requires one.
    static func make(keys: IdentityKeys, mode: AuthMode) async -> TokenVerifier? {
        guard !keys.isEmpty else { return nil }
        var collections: [String: JWTKeyCollection] = [:]
        for (index, key) in keys.keys.enumerated() {
            let collection = collections[key.algorithm] ?? JWTKeyCollection()
            // A kid per key lets jwt-kit try each key of the kind in turn (`iteratingKeys`).
            let kid = JWKIdentifier(string: "key-\(index)")
            switch key {
            case .hmac(let secret): await collection.add(hmac: secret, digestAlgorithm: .sha256, kid: kid)
            case .rsa(let key): await collection.add(rsa: key, digestAlgorithm: .sha256, kid: kid)
            case .ecdsa(let key): await collection.add(ecdsa: key, kid: kid)
            case .eddsa(let key): await collection.add(eddsa: key, kid: kid)
            }
            collections[key.algorithm] = collection
        }
        return TokenVerifier(mode: mode, collections: collections)
    }

    /// The identity `token` proves for `room` (nil: a request that names no room), or the 401 to answer.
    func verify(_ token: String, room: String?) async throws(APIError) -> VerifiedIdentity {
        guard let algorithm = Self.algorithm(of: token), let collection = collections[algorithm] else {
            throw APIError.unauthorized("the token is not signed with a key this server accepts")
        }
        let claims: IdentityClaims
        do {
            claims = try await collection.verify(token, as: IdentityClaims.self, iteratingKeys: true)
        } catch let error as JWTError where error.failedClaim is ExpirationClaim {
            throw APIError.unauthorized("the token has expired")
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw APIError.unauthorized("the token's signature is not valid")
        } catch {
            throw APIError.unauthorized("the token is not valid (it needs sub and exp)")
        }
        let identity = try Self.identity(claims)
        if let room, !identity.allows(room: room) {
            throw APIError.unauthorized("the token is not valid for this room")
        }
        return identity
    }

    private static func identity(_ claims: IdentityClaims) throws(APIError) -> VerifiedIdentity {
        let subject = claims.sub.value
        guard !subject.isEmpty, subject.utf8.count <= 256 else { throw APIError.unauthorized("the token's sub must be 1-256 bytes") }
        let nick: String
        do throws(ProtocolError) {
            nick = try Nick.normalize(claims.nick ?? subject)
        } catch {
            throw APIError.unauthorized("the token's nick is not a valid nick: \(error.message)")
        }
        var role: Role?
        switch claims.role {
        case nil: role = nil
        case "moderator": role = .moderator
        case "owner": role = .owner
        case let other?: throw APIError.unauthorized("the token's role \(other) is not moderator or owner")
        }
        return VerifiedIdentity(subject: subject, nick: nick, rooms: claims.rooms.map(Set.init), role: role, expires: claims.exp.value)
    }

    /// The `alg` of the token's header, read only to pick the keys to try.
    private static func algorithm(of token: String) -> String? {
        guard let header = token.split(separator: ".", omittingEmptySubsequences: false).first, header.utf8.count <= 1024 else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        struct Header: Decodable { var alg: String }
        return try? JSONDecoder().decode(Header.self, from: data).alg
    }
}

extension APIError {
    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, .unauthorized, message)
    }
}
