import HTTPTypes
import Hummingbird
import ParleyProtocol

extension ChatHub {
    /// Everything checked before a WebSocket upgrade (contract §2), as the HTTP refusal it would cause.
    /// Nothing is stored here: an open room is created only once its first connection is upgraded.
    func admit(_ request: Request, context: ParleyRequestContext) async throws(APIError) -> ConnectRequest {
        let connect: ConnectRequest
        do {
            connect = try ConnectRequest(query: request.uri.queryParameters)
        } catch {
            throw APIError(.badRequest, error)
        }
        guard isAllowed(origin: request.headers[.origin], host: request.head.authority) else {
            throw APIError(.forbidden, .forbidden, "origin not allowed")
        }
        if configuration.roomCreation == .api {
            let record: RoomRecord?
            do {
                record = try await store.room(code: connect.roomCode)
            } catch {
                throw APIError(.serviceUnavailable, .unavailable, "storage is unavailable")
            }
            guard record != nil else { throw APIError(.notFound, .notFound, "no such room") }
        }
        return connect
    }

    /// Same origin (Origin's host equals Host), a configured origin, or no Origin at all. A `ws:`/`wss:`
    /// origin is treated as absent: browsers never send one, but some non-browser clients do.
    func isAllowed(origin: String?, host: String?) -> Bool {
        guard let origin, !origin.hasPrefix("ws://"), !origin.hasPrefix("wss://") else { return true }
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
