import HTTPTypes
import Hummingbird
import HummingbirdCore
import ParleyProtocol

extension ChatHub {
    /// Everything checked before a WebSocket upgrade (contract §2), from the request's target and headers,
    /// as the HTTP refusal it would cause. Nothing is stored here: an open room is created only once its
    /// first connection is upgraded.
    func admit(target: String, origin: String?, host: String?) async throws(APIError) -> ConnectRequest {
        let connect = try check(target: target, origin: origin, host: host)
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

    /// The checks of ``admit(target:origin:host:)`` that need no storage.
    func check(target: String, origin: String?, host: String?) throws(APIError) -> ConnectRequest {
        let connect: ConnectRequest
        do throws(ProtocolError) {
            connect = try ConnectRequest(query: URI(target).queryParameters)
        } catch {
            throw APIError(.badRequest, error)
        }
        guard isAllowed(origin: origin, host: host) else {
            throw APIError(.forbidden, .forbidden, "origin not allowed")
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
