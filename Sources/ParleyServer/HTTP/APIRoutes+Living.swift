import Hummingbird
import ParleyProtocol

/// The routes of §11 and §15: one message in its current state, and search.
extension APIRoutes {
    /// The longest search query, in bytes of UTF-8.
    static let maxQueryBytes = 200

    @Sendable func showMessage(_ request: Request, context: ParleyRequestContext) async throws -> ChatMessage {
        let record = try await room(context)
        guard let raw = context.parameters.get("id"), let id = Int64(raw), id > 0 else {
            throw APIError.notFound("no such message")
        }
        let message = try await living { try await store.message(roomID: record.id, id: id) }
        guard let message else {
            throw APIError.notFound("no such message")
        }
        return message
    }

    @Sendable func search(_ request: Request, context: ParleyRequestContext) async throws -> Page {
        let record = try await room(context)
        let parameters = request.uri.queryParameters
        let query = parameters["q"].map(String.init) ?? ""
        guard !query.isEmpty, query.utf8.count <= Self.maxQueryBytes else {
            throw APIError(.badRequest, .badRequest, "q must be 1-\(Self.maxQueryBytes) bytes")
        }
        func integer(_ key: String) throws -> Int64? {
            guard let raw = parameters[key[...]], !raw.isEmpty else { return nil }
            guard let value = Int64(raw), value >= 0 else { throw APIError(.badRequest, .badRequest, "\(key) must be a non-negative integer") }
            return value
        }
        let limit = try integer("limit").map(Int.init) ?? 20
        guard (1...100).contains(limit) else { throw APIError(.badRequest, .badRequest, "limit must be 1-100") }
        let before = try integer("before")
        let page = try await living { try await store.search(roomID: record.id, query: query, before: before, limit: limit) }
        return Page(messages: page.messages, hasMore: page.hasMore)
    }

    /// A store without living messages answers `503 unavailable` with the reason, rather than a bare 500.
    private func living<T>(_ read: @Sendable () async throws -> T) async throws -> T {
        do {
            return try await read()
        } catch let error as StorageError {
            if case .unsupported(let reason) = error { throw APIError(.serviceUnavailable, .unavailable, reason) }
            throw error
        }
    }
}
