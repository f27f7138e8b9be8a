import HTTPTypes
import Hummingbird
import ParleyProtocol

/// Room owners over HTTP (§12): `Authorization: Bearer KEY`, the room rules for posts, and deleting a room.
extension APIRoutes {
    /// The value of `Authorization: Bearer …`, if any.
    static func bearer(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let prefix = "bearer "
        guard value.count > prefix.count, value.prefix(prefix.count).lowercased() == prefix else { return nil }
        let token = value.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// Who is asking, as the room's rules see it: a Bearer value that is a key of this room (or the admin
    /// token) gives its role; any other Bearer value is a token, which ``IdentityMiddleware`` has checked.
    func poster(of request: Request, context: ParleyRequestContext, in record: RoomRecord) async throws -> Poster {
        var poster = Poster(role: .member, address: context.clientAddress(of: request, trustedProxies: configuration.trustedProxies))
        guard let bearer = Self.bearer(request) else { return poster }
        let role: Role?
        do {
            role = try await moderation.role(of: bearer, in: record)
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "storage is unavailable")
        }
        if let role {
            poster.role = role
        } else if context.keyMustGrant {
            throw IdentityMiddleware.tokenRequired
        } else {
            // A token (§13), checked by ``IdentityMiddleware`` before the route ran: its `role` counts in the
            // rooms it lists, as on a WebSocket.
            poster.subject = context.identity?.subject
            if let granted = context.identity?.role(in: record.code), granted > poster.role { poster.role = granted }
        }
        return poster
    }

    /// Bans, a locked room and slow mode (§12), as for a WebSocket member; an upload skips slow mode. A post's
    /// slow-mode pass is handed back (``RoomRules/withdraw(_:)``) when it is not stored.
    @discardableResult
    func checkRules(in record: RoomRecord, for poster: Poster, upload: Bool = false) async throws -> RoomRules.SlowModePass? {
        do {
            return try await moderation.rules.checkPost(in: record, by: poster, upload: upload)
        } catch {
            let status: HTTPResponse.Status =
                switch error.code {
                case .rateLimited: .tooManyRequests
                case .unavailable: .serviceUnavailable
                default: .forbidden
                }
            throw APIError(status, error)
        }
    }

    /// `DELETE /api/rooms/{code}` with the owner key or the admin token: closes everyone with 4004 and erases
    /// the room; the code then answers 404.
    @Sendable func deleteRoom(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        let record = try await room(context)
        guard Self.bearer(request) != nil else {
            throw APIError(.unauthorized, .unauthorized, "deleting a room needs its owner key as Authorization: Bearer")
        }
        let poster = try await poster(of: request, context: context, in: record)
        guard poster.role == .owner else { throw APIError(.forbidden, .forbidden, "only the room's owner may delete it") }
        do {
            try await moderation.delete(record)
        } catch {
            throw APIError(.serviceUnavailable, .unavailable, "the room could not be deleted; try again")
        }
        return Response(status: .noContent)
    }
}
