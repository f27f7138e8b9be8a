import HTTPTypes
import Hummingbird

/// Checks `Authorization: Bearer JWT` on state-changing HTTP requests (contract §13) and hands the
/// identity to the route in ``ParleyRequestContext/identity``.
///
/// A bearer value is a token only when it has a JWT's shape (three dot-separated parts); anything else
/// (a room key or the admin token, §12) is left to the routes that take keys. Under `--auth required` such a
/// value must then prove to be one (``ParleyRequestContext/keyMustGrant``), or it would open every route.
struct IdentityMiddleware: RouterMiddleware {
    let verifier: TokenVerifier

    func handle(
        _ request: Request,
        context: ParleyRequestContext,
        next: (Request, ParleyRequestContext) async throws -> Response
    ) async throws -> Response {
        guard RequestGuardMiddleware.changesState(request.method) else { return try await next(request, context) }
        var context = context
        if let token = Self.token(in: request) {
            context.identity = try await verifier.verify(token, room: Self.roomCode(in: request.uri.path))
        } else if verifier.mode == .required {
            guard Self.carriesKey(request) else { throw Self.tokenRequired }
            context.keyMustGrant = true
        }
        return try await next(request, context)
    }

    static let tokenRequired = APIError.unauthorized("a token is required (Authorization: Bearer JWT)")

    /// The bearer value when it has a JWT's shape.
    static func token(in request: Request) -> String? {
        guard let value = APIRoutes.bearer(request), value.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2 else { return nil }
        return value
    }

    /// Read as the routes read it (``APIRoutes/bearer(_:)``): a value let through here as a key must be the one
    /// they then check, or it would pass unchecked.
    private static func carriesKey(_ request: Request) -> Bool {
        APIRoutes.bearer(request) != nil
    }

    /// The `{code}` of `/api/rooms/{code}/…`; nil for a request that names no room (creating one).
    static func roomCode(in path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 3, parts[0] == "api", parts[1] == "rooms" else { return nil }
        return String(parts[2])
    }
}
