import ParleyProtocol

/// Room owners and moderation (§12), for stores that keep them. The defaults are those of a store that does
/// not (the benchmark's): no keys, no bans, settings at their defaults, and every change refused.
extension MessageStore {
    public func createRoom(code: String, name: String?, ownerKey: SecretDigest) async throws -> RoomRecord {
        try await createRoom(code: code, name: name)
    }
    public func roomSettings(roomID: Int64) async throws -> RoomSettings? { nil }
    public func updateRoom(roomID: Int64, _ settings: RoomSettings) async throws { throw StorageError.unsupported("room settings") }
    public func role(roomID: Int64, key: SecretDigest) async throws -> Role? { nil }
    public func addModeratorKey(roomID: Int64, key: SecretDigest) async throws { throw StorageError.unsupported("room keys") }
    public func revokeModeratorKeys(roomID: Int64) async throws { throw StorageError.unsupported("room keys") }
    public func addBan(roomID: Int64, _ ban: Ban) async throws { throw StorageError.unsupported("bans") }
    public func removeBans(roomID: Int64, nick: String) async throws -> Bool { false }
    public func activeBans(now: Timestamp) async throws -> [String: [Ban]] { [:] }
    public func deleteRoom(roomID: Int64) async throws { throw StorageError.unsupported("deleting rooms") }
}
