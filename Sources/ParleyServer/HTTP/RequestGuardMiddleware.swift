import HTTPTypes
import Hummingbird

/// The HTTP API's edge (contract §6 and §16), before any route runs: the `Host` check against DNS
/// rebinding for every request, then, for requests that change state, the `Origin` check, the rate limit
/// per client address and the JSON-only body rule. The checks that need no storage come first, so a
/// refused request costs nothing else.
struct RequestGuardMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext

    let policy: HostPolicy
    let rateLimiter: HTTPRateLimiter
    let trustedProxies: [AddressRange]
    let metrics: EdgeMetrics
    /// The digest of `--admin-token`, whose requests are not rate limited.
    let adminDigest: SecretDigest?

    init(configuration: ServerConfiguration, metrics: EdgeMetrics) {
        adminDigest = configuration.adminToken.map { SecretDigest(of: $0) }
        policy = HostPolicy(configuration: configuration)
        rateLimiter = HTTPRateLimiter(burst: configuration.httpRateBurst, perSecond: configuration.httpRatePerSecond)
        trustedProxies = configuration.trustedProxies
        self.metrics = metrics
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard policy.allows(host: request.head.authority) else {
            metrics.foreignHost.increment()
            throw APIError.foreignHost
        }
        guard Self.changesState(request.method) else {
            if Self.isCostlyRead(request) { try takeToken(request, context: context) }
            return try await next(request, context)
        }
        // A page on another site can send a form or a simple `fetch` here without asking (no CORS
        // preflight); its origin and its `text/plain` body give it away.
        guard policy.allows(origin: request.headers[.origin], host: request.head.authority) else {
            metrics.foreignOrigin.increment()
            throw APIError.foreignOrigin
        }
        try takeToken(request, context: context)
        guard Self.hasAcceptableBody(request.headers) || FileRoutes.isUpload(request.uri.path) else {
            metrics.notJSON.increment()
            throw APIError(.unsupportedMediaType, .badRequest, "the body must be application/json")
        }
        return try await next(request, context)
    }

    /// Takes one of the client address's tokens, or refuses with `429` and `Retry-After`.
    private func takeToken(_ request: Request, context: Context) throws {
        guard !isExemptFromRateLimit(request),
            case .refuse(let retryAfter) = rateLimiter.take(context.clientAddress(of: request, trustedProxies: trustedProxies))
        else { return }
        metrics.rateLimited.increment()
        let seconds = max(1, Int((Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) / 1e18).rounded(.up)))
        throw APIError(.tooManyRequests, .rateLimited, "too many requests; retry later", headers: [.retryAfter: "\(seconds)"])
    }

    /// A read that can cost the database far more than a post (a full-text search: its cost grows with the
    /// index, not the room), so it takes a token like a request that changes state. The path is matched by
    /// its segments, as the router matches it: empty ones (`//`, a trailing `/`) reach the same route.
    static func isCostlyRead(_ request: Request) -> Bool {
        guard request.method == .get else { return false }
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        return parts.count == 4 && parts[0] == "api" && parts[1] == "rooms" && parts[3] == "search"
    }

    static func changesState(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .delete || method == .patch
    }

    /// Requests carrying the admin token (contract §16) as `Authorization: Bearer` are not rate limited.
    func isExemptFromRateLimit(_ request: Request) -> Bool {
        guard let adminDigest, let token = APIRoutes.bearer(request) else { return false }
        return adminDigest.matches(SecretDigest(of: token))
    }

    /// An empty body needs no type; any other is JSON. A chunked body counts as non-empty.
    static func hasAcceptableBody(_ headers: HTTPFields) -> Bool {
        let length = headers[.contentLength].flatMap { Int($0) }
        if length == 0 || (length == nil && headers[.transferEncoding] == nil) { return true }
        guard let type = headers[.contentType] else { return false }
        let mediaType = type.prefix { $0 != ";" }.filter { $0 != " " && $0 != "\t" }
        return mediaType.lowercased() == "application/json"
    }
}
