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
