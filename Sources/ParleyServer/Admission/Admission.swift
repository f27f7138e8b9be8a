import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
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
        let policy = HostPolicy(configuration: configuration)
        guard policy.allows(host: host) else {
            metrics.edge.foreignHost.increment()
            throw APIError.foreignHost
        }
        guard policy.allows(origin: origin, host: host) else {
            metrics.edge.foreignOrigin.increment()
            throw APIError.foreignOrigin
        }
        return connect
    }

    /// The address the connection limits count an upgrade request under.
    func clientAddress(_ head: HTTPRequestHead, channel: any Channel) -> ClientAddress {
        ClientAddress(peer: channel.remoteAddress, forwardedFor: head.headers["X-Forwarded-For"], trusted: configuration.trustedProxies)
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

extension APIError {
    static let foreignHost = APIError(.forbidden, .forbidden, "this server is not reached under that host name")
    static let foreignOrigin = APIError(.forbidden, .forbidden, "origin not allowed")
}
