import GRDB

/// Reads without GRDB's `read`, which compiles `BEGIN` and `COMMIT` again for every read: in the profile of
/// 10,000 connections into as many rooms that was a fifth of what the reads cost.
extension SQLiteMessageStore {
    /// Several statements that must see one snapshot, in a read transaction begun and ended with cached statements.
    func snapshot<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await database.unsafeRead { db in
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            do {
                let value = try body(db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                return value
            } catch {
                try? db.cachedStatement(sql: "ROLLBACK TRANSACTION").execute()
                throw error
            }
        }
    }

    /// One statement, which SQLite runs in a snapshot of its own: no transaction around it.
    func statement<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        try await database.unsafeRead(body)
    }
}
