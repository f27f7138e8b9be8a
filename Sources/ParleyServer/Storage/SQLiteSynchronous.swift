import GRDB

/// How SQLite syncs its log (`--sqlite-synchronous`).
public enum SQLiteSynchronous: String, Sendable, CaseIterable {
    /// Every commit is synced before it is acknowledged: it survives a power cut (the default).
    case full
    /// Commits survive the process being killed, but a power cut may roll back the last ones, whose ids
    /// were already delivered and are then given to other messages.
    case normal

    var pragma: String {
        switch self {
        case .full: "FULL"
        case .normal: "NORMAL"
        }
    }
}

extension Database {
    /// Runs `body` with `synchronous = NORMAL` when `relaxed` (for a connection that syncs every commit), then sets
    /// it back to `FULL`. `body` must end with no transaction open, committed or rolled back: SQLite refuses to
    /// change the setting inside one, and a connection left at `NORMAL` would stop syncing the commits after it.
    func withoutSync<T>(if relaxed: Bool, _ body: () throws -> T) throws -> T {
        guard relaxed else { return try body() }
        try cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
        // Outside a transaction nothing refuses it.
        defer { try? cachedStatement(sql: "PRAGMA synchronous = FULL").execute() }
        return try body()
    }
}
