import Foundation
import HTTPTypes
import Hummingbird
import ParleyProtocol

/// The HTTP API of contract §7.
struct APIRoutes {
    let configuration: ServerConfiguration
    let store: any MessageStore
    /// Members on every node; nil on a single node.
    let cluster: ClusterPresence?
    let rooms: RoomRegistry
    let serverMetrics: ParleyMetrics
    /// Keys, bans and room rules (§12).
    let moderation: RoomModeration

    func add(to router: Router<ParleyRequestContext>) {
        router.post("/api/rooms", use: createRoom)
        router.get("/api/rooms/{code}", use: showRoom)
        router.get("/api/rooms/{code}/messages", use: listMessages)
        router.post("/api/rooms/{code}/messages", use: postMessage)
        router.get("/api/rooms/{code}/messages/{id}", use: showMessage)
        router.get("/api/rooms/{code}/search", use: search)
        router.delete("/api/rooms/{code}", use: deleteRoom)
        router.get("/healthz", use: health)
        router.get("/metrics", use: metrics)
        router.refuseOtherMethods("/api/rooms", allowed: [.post])
        router.refuseOtherMethods("/api/rooms/{code}", allowed: [.get, .delete])
        router.refuseOtherMethods("/api/rooms/{code}/messages", allowed: [.get, .post])
        router.refuseOtherMethods("/api/rooms/{code}/messages/{id}", allowed: [.get])
        router.refuseOtherMethods("/api/rooms/{code}/search", allowed: [.get])
        router.refuseOtherMethods("/healthz", allowed: [.get])
        router.refuseOtherMethods("/metrics", allowed: [.get])
        // The document itself is the file `Public/api/openapi.json`, which the web UI's file middleware serves.
        router.refuseOtherMethods("/api/openapi.json", allowed: [.get])
    }

    struct RoomDetails: ResponseEncodable {
        var code: String
        var name: String?
        var createdAt: Timestamp
        var members: [String]
        var lastID: Int64
        /// §12: a room object carries its settings (`topic` null when unset).
        var topic: String?
        var locked: Bool
        var slowMode: Int

        enum CodingKeys: String, CodingKey {
            case code, name, members, topic, locked
            case createdAt = "created_at"
            case lastID = "last_id"
            case slowMode = "slow_mode"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(name, forKey: .name)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(members, forKey: .members)
            try container.encode(lastID, forKey: .lastID)
            try container.encode(topic, forKey: .topic)
            try container.encode(locked, forKey: .locked)
            try container.encode(slowMode, forKey: .slowMode)
        }
    }

    struct Page: ResponseEncodable {
        var messages: [ChatMessage]
        var hasMore: Bool

        enum CodingKeys: String, CodingKey {
            case messages
            case hasMore = "has_more"
        }
    }

    @Sendable func createRoom(_ request: Request, context: ParleyRequestContext) async throws -> EditedResponse<CreatedRoom> {
        struct Body: Decodable {
            var name: String?
        }
        // Under `--auth required` only a token or the admin token may create rooms.
        if context.keyMustGrant, !(Self.bearer(request).map(moderation.isAdminToken) ?? false) { throw IdentityMiddleware.tokenRequired }
        let data = try await request.body.collect(upTo: configuration.maxBodyBytes)
        var name: String?
        if data.readableBytes > 0 {
            name = try JSONDecoder().decode(Body.self, from: Data(data.readableBytesView)).name
        }
        if let name, name.unicodeScalars.count > 100 {
            throw APIError(.badRequest, .badRequest, "name must be at most 100 characters")
        }
        // The owner key is shown once, here; the room keeps only its digest (§12).
        let ownerKey = RoomModeration.makeKey()
        let record = try await store.createRoom(code: RoomCode.makePrivate(), name: name, ownerKey: SecretDigest(of: ownerKey))
        let (base, webSocketBase) = publicBases(request)
        return EditedResponse(
            status: .created,
            response: CreatedRoom(
                code: record.code,
                name: record.name,
                createdAt: record.createdAt,
                url: "\(base)/r/\(record.code)",
                wsURL: "\(webSocketBase)/ws?room=\(record.code)",
                ownerKey: ownerKey,
                ownerURL: "\(base)/r/\(record.code)#key=\(ownerKey)"
            )
        )
    }

    /// Where users reach the server: `--public-url`, else the request's `Host` (or `--host` and `--port`).
    private func publicBases(_ request: Request) -> (String, String) {
        if let publicURL = configuration.publicURL { return (publicURL.base, publicURL.webSocketBase) }
        let host = request.head.authority ?? "\(configuration.host):\(configuration.port)"
        let secure = configuration.tlsCertificatePath != nil
        return ("\(secure ? "https" : "http")://\(host)", "\(secure ? "wss" : "ws")://\(host)")
    }

    @Sendable func showRoom(_ request: Request, context: ParleyRequestContext) async throws -> RoomDetails {
        let record = try await room(context)
        let lastID = try await store.lastID(roomID: record.id)
        // On a cluster the list is every node's; on one node, the live room's.
        let live = rooms.room(code: record.code)
        let members = try await cluster?.members(roomID: record.id) ?? live?.nicks ?? []
        // A live room's settings are current (changes reach every node's live room); else the stored ones.
        var settings = live?.settings
        if settings == nil { settings = try await store.roomSettings(roomID: record.id) }
        let shown = settings ?? RoomSettings(name: record.name)
        return RoomDetails(
            code: record.code,
            name: shown.name,
            createdAt: record.createdAt,
            members: members,
            lastID: lastID,
            topic: shown.topic,
            locked: shown.locked,
            slowMode: shown.slowMode
        )
    }

    @Sendable func listMessages(_ request: Request, context: ParleyRequestContext) async throws -> Page {
        let record = try await room(context)
        let query = request.uri.queryParameters
        func integer(_ key: String) throws -> Int64? {
            guard let raw = query[key[...]], !raw.isEmpty else { return nil }
            guard let value = Int64(raw), value >= 0 else { throw APIError(.badRequest, .badRequest, "\(key) must be a non-negative integer") }
            return value
        }
        let limit = try Limits.historyPageSize(integer("limit").map(Int.init))
        let after = try integer("after")
        let page = try await store.messages(roomID: record.id, after: after, before: try integer("before"), limit: limit, newest: after == nil)
        return Page(messages: page.messages, hasMore: page.hasMore)
    }

    @Sendable func postMessage(_ request: Request, context: ParleyRequestContext) async throws -> EditedResponse<ChatMessage> {
        struct Body: Decodable {
            /// Ignored for a verified client, whose nick is its token's.
            var nick: String?
            var text: String
            var clientID: String?
            var attachments: [String]?

            enum CodingKeys: String, CodingKey {
                case nick, text, attachments
                case clientID = "client_id"
            }
        }
        let record = try await room(context)
        let data = try await request.body.collect(upTo: configuration.maxBodyBytes)
        let body = try JSONDecoder().decode(Body.self, from: Data(data.readableBytesView))
        let identity = context.identity
        guard let given = identity?.nick ?? body.nick else { throw APIError(.badRequest, .invalidNick, "nick is required") }
        let nick = try Nick.normalize(given)
        let clientID = try MessageText.validateClientID(body.clientID)
        var attachments: [String] = []
        if let ids = body.attachments {
            guard store.supportsFiles else { throw APIError(.badRequest, .badRequest, StorageError.files) }
            do {
                attachments = try FileRules.validateAttachments(ids)
            } catch {
                throw APIError(.badRequest, error)
            }
        }
        let text = try validatedText(body.text, attachments: attachments.count)
        let poster = try await poster(of: request, context: context, in: record)
        // A verified client posts under its own reserved nick; owners and moderators may use any.
        if identity == nil, !poster.role.moderates { try await refuseHeldNick(nick, in: record) }
        let pass: RoomRules.SlowModePass?
        do {
            pass = try await checkRules(in: record, for: poster)
        } catch let refusal as APIError where refusal.status == .tooManyRequests {
            // Slow mode limits new messages; a resend gets its original back (§5).
            guard let clientID, let original = try await store.message(roomID: record.id, clientID: clientID) else { throw refusal }
            guard original.isResent(as: text, attachments: attachments) else { throw Self.clientIDConflict }
            return EditedResponse(status: .ok, response: original)
        }
        let (results, continuation) = AsyncStream.makeStream(of: AppendResult.self, bufferingPolicy: .bufferingNewest(1))
        var message = PendingMessage(roomID: record.id, nick: nick, text: text, ts: .now(), clientID: clientID) { result in
            continuation.yield(result)
            continuation.finish()
        }
        message.delivery = RoomDelivery(rooms: rooms, code: record.code)
        message.attachments = attachments
        if let identity {
            message.verified = true
            if store.supportsLivingMessages { message.author = AuthorKey(subject: identity.subject) }
        }
        let result: AppendResult?
        do {
            try await store.append(message)
            var iterator = results.makeAsyncIterator()
            result = await iterator.next()
        } catch {
            moderation.rules.withdraw(pass)
            throw error
        }
        if case .stored = result {} else { moderation.rules.withdraw(pass) }
        switch result {
        case .stored(let message): return EditedResponse(status: .created, response: message)
        case .duplicate(let message): return EditedResponse(status: .ok, response: message)
        case .conflict: throw Self.clientIDConflict
        case .noRoom: throw APIError.notFound("no such room")
        case .refused(let error): throw APIError(error.code == .notFound ? .notFound : .badRequest, error)
        case .failed, .none, .changed, .unchanged: throw APIError(.serviceUnavailable, .unavailable, "the message could not be stored")
        }
    }

    static let clientIDConflict = APIError(.conflict, .badRequest, "client_id is already used by another message in this room")

    /// `409 nick_taken` when a connected member of the room holds `nick` (on a cluster, on any node), so
    /// that nobody can post as them.
    private func refuseHeldNick(_ nick: String, in record: RoomRecord) async throws {
        let members: [String]
        if let cluster = cluster {
            do {
                members = try await cluster.members(roomID: record.id)
            } catch {
                throw APIError(.serviceUnavailable, .unavailable, "the room's members could not be read")
            }
        } else {
            members = rooms.room(code: record.code)?.nicks ?? []
        }
        let key = Nick.key(nick)
        if members.contains(where: { Nick.key($0) == key }) {
            throw APIError(.conflict, .nickTaken, "a member of the room is using this nick")
        }
    }

    /// Text over the limit is `413 too_large`; empty text is `400 bad_request`.
    private func validatedText(_ text: String, attachments: Int = 0) throws -> String {
        do {
            return try MessageText.validate(text, maxBytes: configuration.maxMessageBytes, attachments: attachments)
        } catch {
            throw APIError(error.code == .tooLarge ? .contentTooLarge : .badRequest, error)
        }
    }

    @Sendable func health(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        // 503 while storage cannot write (a full disk, a lost file) or does not answer within the deadline.
        let store = self.store
        guard (try? await withDeadline(StorageDeadline.call, { await store.isHealthy() })) == true else {
            throw APIError(.serviceUnavailable, .unavailable, "storage is not answering")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }

    @Sendable func metrics(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: serverMetrics.registry.emitToBuffer()))
        )
    }

    /// The stored room named by the `{code}` path parameter.
    func room(_ context: ParleyRequestContext) async throws -> RoomRecord {
        let code = try RoomCode.validate(context.parameters.get("code") ?? "")
        guard let record = try await store.room(code: code) else {
            throw APIError.notFound("no such room")
        }
        return record
    }
}

extension Router {
    /// Answers `405 bad_request` for the common methods a path does not serve (the router alone says 404),
    /// with the `Allow` header that RFC 9110 requires of a 405.
    func refuseOtherMethods(_ path: RouterPath, allowed: Set<HTTPRequest.Method>) {
        let methods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete]
        let allow = methods.filter(allowed.contains).map(\.rawValue).joined(separator: ", ")
        for method in methods where !allowed.contains(method) {
            on(path, method: method) { _, _ -> Response in
                throw APIError(.methodNotAllowed, .badRequest, "method not allowed", headers: [.allow: allow])
            }
        }
    }
}

extension ChatMessage: ResponseEncodable {}
extension CreatedRoom: ResponseEncodable {}
extension Attachment: ResponseEncodable {}
