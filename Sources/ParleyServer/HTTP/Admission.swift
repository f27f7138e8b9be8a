import HTTPTypes
import Hummingbird
import ParleyProtocol

extension ChatHub {
    /// Everything checked before a WebSocket upgrade (contract §2), as the HTTP refusal it would cause.
    func admit(_ request: Request, context: ParleyRequestContext) async throws(APIError) -> (ConnectRequest, RoomRecord) {
        let connect: ConnectRequest
        do {
            connect = try ConnectRequest(query: request.uri.queryParameters)
        } catch {
            throw APIError(.badRequest, error)
        }
        guard isAllowed(origin: request.headers[.origin], host: request.head.authority) else {
            throw APIError(.forbidden, .forbidden, "origin not allowed")
        }
        let record: RoomRecord?
        do {
            record = try await admitRoom(code: connect.roomCode)
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "storage is unavailable")
        }
        guard let record else {
            throw APIError(.notFound, .notFound, "no such room")
        }
        return (connect, record)
    }

    /// Same origin (Origin's host equals Host), a configured origin, or no Origin at all.
    func isAllowed(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        let allowed = configuration.allowedOrigins
        if allowed.contains("*") || allowed.contains(origin) { return true }
        guard let host, let separator = origin.range(of: "://") else { return false }
        return origin[separator.upperBound...] == host[...]
    }

    /// The HTTP refusal for a connection-limit failure.
    static func refusal(_ refusal: ConnectionLimiter.Refusal) -> APIError {
        switch refusal {
        case .perAddress: APIError(.tooManyRequests, .rateLimited, "too many connections from this address")
        case .total: APIError(.serviceUnavailable, .unavailable, "the server is at its connection limit")
        case .shuttingDown: APIError(.serviceUnavailable, .unavailable, "the server is shutting down")
        }
    }
}
