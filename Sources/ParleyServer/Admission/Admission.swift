import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import ParleyProtocol

/// The one step before a WebSocket upgrade (contract §2): it parses the connect request once, checks the
/// `Host` and `Origin`, reads the room in api mode, and takes a place in the ``ConnectionLimiter``, or
/// answers with the HTTP refusal. What it decided goes on to the connection as ``Admitted``, so nothing is
/// parsed or read twice. Nothing is stored here: an open room is created only once its first connection
/// is upgraded.
final class Admission: Sendable {
    let configuration: ServerConfiguration
    let store: any MessageStore
    let limiter: ConnectionLimiter
    /// Runs the api-mode room read, which must not block the event loop.
    let work: ConnectionWork
    let metrics: ParleyMetrics
    /// Checks identity tokens (§13); nil when no key is configured.
    let verifier: TokenVerifier?
    /// Keys, roles and bans (§12).
    let moderation: RoomModeration
    /// Which `Host` and `Origin` may connect: from the configuration, worked out once.
    private let hosts: HostPolicy

    /// What the connection may do, and what a ban of it would name (§12, §13).
    struct Grant: Sendable {
        var role = Role.member
        /// The role came from a moderator key, which the owner may revoke.
        var byModeratorKey = false
        /// The verified subject of a signed identity (§13); filled by the token check.
        var subject: String?
        var address: ClientAddress?
        /// The `Host` the client reached the server by, for links the connection hands out.
        var host: String?
    }

    /// A request that may upgrade.
    struct Admitted: Sendable {
        var request: ConnectRequest
        /// The room, read here in api mode; nil in open mode (opened on join).
        var room: RoomRecord?
        /// The connection's place in the limiter; the connection takes it over.
        var slot: ConnectionSlot
        /// Who the token proved the client is; nil for an anonymous one.
        var identity: VerifiedIdentity?
        var grant = Grant()
    }

    init(
        configuration: ServerConfiguration,
        store: any MessageStore,
        limiter: ConnectionLimiter,
        work: ConnectionWork,
        metrics: ParleyMetrics,
        verifier: TokenVerifier? = nil,
        moderation: RoomModeration
    ) {
        self.moderation = moderation
        self.configuration = configuration
        self.hosts = HostPolicy(configuration: configuration)
        self.verifier = verifier
        self.store = store
        self.limiter = limiter
        self.work = work
        self.metrics = metrics
    }

    /// Decides a WebSocket upgrade request: admitted, or the refusal to answer with. Of its fields it reads only
    /// ``UpgradeRequest/admissionFields``: a head ``WebSocketHandshake`` read carries no other.
    func decide(_ head: HTTPRequestHead, channel: any Channel) -> EventLoopFuture<Result<Admitted, APIError>> {
        let origin = head.headers.first(name: "origin")
        let host = head.headers.first(name: "host")
        let address = ClientAddress(peer: channel.remoteAddress, forwardedFor: head.headers["X-Forwarded-For"], trusted: configuration.trustedProxies)
        let uri = URI(head.uri)
        guard uri.path == "/ws" else {
            return channel.eventLoop.makeSucceededFuture(.failure(APIError(.notFound, .notFound, "no WebSocket here")))
        }
        let request: ConnectRequest
        do throws(APIError) {
            request = try check(uri, origin: origin, host: host)
        } catch {
            return channel.eventLoop.makeSucceededFuture(refused(error))
        }
        let token: String?
        do throws(APIError) {
            token = try tokenToCheck(request.auth)
        } catch {
            return channel.eventLoop.makeSucceededFuture(refused(error))
        }
        var grant = Grant(address: address, host: host)
        if needsNoStorage(request, token: token) {
            // No storage read: the admin token is checked here, and bans are in memory.
            if request.key != nil { grant.role = .owner }
            do throws(APIError) {
                try refuseBanned(request, grant)
            } catch {
                return channel.eventLoop.makeSucceededFuture(refused(error))
            }
            return channel.eventLoop.makeSucceededFuture(reserve(request, room: nil, grant: grant))
        }
        // A token check (jwt-kit's is async), a room that must exist, or a key to look up: off the event loop.
        let promise = channel.eventLoop.makePromise(of: Result<Admitted, APIError>.self)
        let admittedSoFar = grant
        let queued = work.submit {
            do throws(APIError) {
                let (grant, room, identity) = try await self.authorize(request, token: token, admittedSoFar)
                promise.succeed(self.reserve(request, room: room, grant: grant, identity: identity))
            } catch {
                promise.succeed(self.refused(error))
            }
        }
        if !queued { promise.succeed(refused(APIError(.serviceUnavailable, .unavailable, "the server is busy; try again"))) }
        return promise.futureResult
    }

    /// Whether the open-mode shortcut applies: no token and no key other than the admin token, so nothing
    /// needs a storage read.
    private func needsNoStorage(_ request: ConnectRequest, token: String?) -> Bool {
        configuration.roomCreation == .open && token == nil && (request.key == nil || moderation.isAdminToken(request.key ?? ""))
    }

    /// The checks that may read storage or wait for the token's keys: the token, the room (api mode), the key,
    /// then bans. The grant it returns is the connection's.
    private func authorize(
        _ request: ConnectRequest,
        token: String?,
        _ admittedSoFar: Grant
    ) async throws(APIError) -> (Grant, RoomRecord?, VerifiedIdentity?) {
        let identity = try await self.identity(token, room: request.roomCode)
        var grant = admittedSoFar
        grant.subject = identity?.subject
        // A token's `role` counts in the rooms it lists (§13), unless a key granted more.
        if let role = identity?.role(in: request.roomCode), role > grant.role { grant.role = role }
        var room = try await existingRoom(request)
        if let key = request.key {
            if room == nil { room = try await storedRoom(request) }
            grant = try await authorize(key: key, room: room, grant)
            // Only api mode hands the room on: in open mode the join opens it as before.
            if configuration.roomCreation == .open { room = nil }
        }
        try refuseBanned(request, grant)
        return (grant, room, identity)
    }

    /// The checks that need no storage: the query parsed into a ``ConnectRequest``, then `Host` and `Origin`.
    func check(target: String, origin: String?, host: String?) throws(APIError) -> ConnectRequest {
        try check(URI(target), origin: origin, host: host)
    }

    private func check(_ target: URI, origin: String?, host: String?) throws(APIError) -> ConnectRequest {
        let connect: ConnectRequest
        do throws(ProtocolError) {
            connect = try ConnectRequest(query: target.queryParameters)
        } catch {
            throw APIError(.badRequest, error)
        }
        guard hosts.allows(host: host) else {
            metrics.edge.foreignHost.increment()
            throw APIError.foreignHost
        }
        guard hosts.allows(origin: origin, host: host) else {
            metrics.edge.foreignOrigin.increment()
            throw APIError.foreignOrigin
        }
        return connect
    }

    /// In api mode, the room the request names, which must exist; nil in open mode.
    private func existingRoom(_ request: ConnectRequest) async throws(APIError) -> RoomRecord? {
        guard configuration.roomCreation == .api else { return nil }
        let record: RoomRecord?
        do {
            record = try await store.room(code: request.roomCode)
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "storage is unavailable")
        }
        guard let record else { throw APIError(.notFound, .notFound, "no such room") }
        return record
    }

    /// The token to verify, nil when there is none; refuses a missing one under `--auth required`, and any
    /// token when no key is configured (it could not be checked, and its holder would not be verified).
    private func tokenToCheck(_ token: String?) throws(APIError) -> String? {
        guard let verifier else {
            if token != nil { throw APIError.unauthorized("this server accepts no tokens") }
            return nil
        }
        if token == nil, verifier.mode == .required { throw APIError.unauthorized("a token is required (auth=JWT)") }
        return token
    }

    private func identity(_ token: String?, room: String) async throws(APIError) -> VerifiedIdentity? {
        guard let token, let verifier else { return nil }
        do {
            return try await verifier.verify(token, room: room)
        } catch {
            metrics.edge.unauthorized.increment()
            throw error
        }
    }

    /// The room a key is for, read in open mode too (a key for a room that does not exist grants nothing).
    private func storedRoom(_ request: ConnectRequest) async throws(APIError) -> RoomRecord? {
        do {
            return try await store.room(code: request.roomCode)
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "storage is unavailable")
        }
    }

    /// The role `key` grants in the room; a key that grants nothing there is `403 forbidden` (§12).
    private func authorize(key: String, room: RoomRecord?, _ grant: Grant) async throws(APIError) -> Grant {
        let role: Role?
        do {
            role = try await moderation.role(of: key, in: room)
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "storage is unavailable")
        }
        guard let role else {
            throw APIError(.forbidden, .forbidden, "this key grants nothing in this room")
        }
        var grant = grant
        grant.role = role
        grant.byModeratorKey = role == .moderator
        return grant
    }

    /// A banned session, subject or address may not join (§12); owners and moderators are never refused.
    private func refuseBanned(_ request: ConnectRequest, _ grant: Grant) throws(APIError) {
        guard !grant.role.moderates else { return }
        if moderation.bans.refuses(
            room: request.roomCode,
            session: request.session.map { SecretDigest(of: $0.description) },
            subject: grant.subject,
            address: grant.address?.description
        ) {
            throw APIError(.forbidden, .forbidden, "you are banned from this room")
        }
    }

    private func reserve(
        _ request: ConnectRequest,
        room: RoomRecord?,
        grant: Grant,
        identity: VerifiedIdentity? = nil
    ) -> Result<Admitted, APIError> {
        guard let address = grant.address else { return refused(APIError(.badRequest, .badRequest, "no client address")) }
        do throws(ConnectionLimiter.Refusal) {
            return .success(Admitted(request: request, room: room, slot: try limiter.reserve(address: address), identity: identity, grant: grant))
        } catch {
            return refused(Self.refusal(error))
        }
    }

    private func refused(_ error: APIError) -> Result<Admitted, APIError> {
        metrics.connectionsRefused.increment()
        return .failure(error)
    }

    /// `GET /ws` on the HTTP router, for requests without upgrade headers: the same checks, then 400.
    func addRefusalRoute(to router: Router<ParleyRequestContext>) {
        router.get("/ws") { request, context -> Response in
            let connect = try self.check(target: request.uri.description, origin: request.headers[.origin], host: request.head.authority)
            let token = try self.tokenToCheck(connect.auth)
            let address = context.clientAddress(of: request, trustedProxies: self.configuration.trustedProxies)
            // The upgrade's checks in its order: a key that grants nothing or a ban is refused here too.
            var grant = Grant(address: address, host: request.head.authority)
            if self.needsNoStorage(connect, token: token) {
                if connect.key != nil { grant.role = .owner }
                try self.refuseBanned(connect, grant)
            } else {
                _ = try await self.authorize(connect, token: token, grant)
            }
            do throws(ConnectionLimiter.Refusal) {
                try self.limiter.check(address: address)
            } catch {
                throw Self.refusal(error)
            }
            throw APIError(.badRequest, .badRequest, "expected a WebSocket upgrade request")
        }
        router.refuseOtherMethods("/ws", allowed: [.get])
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
