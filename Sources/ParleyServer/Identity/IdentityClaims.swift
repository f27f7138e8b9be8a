import Foundation
import JWTKit

/// The claims of a Parley identity token (contract §13). `sub` and `exp` are required; decoding fails
/// without them, and jwt-kit calls ``verify(using:)`` after checking the signature.
struct IdentityClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var nick: String?
    var rooms: [String]?
    var role: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}
