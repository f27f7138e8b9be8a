/// Storage failures as connections and routes see them.
public enum StorageError: Error, CustomStringConvertible {
    case unavailable
    case unsupported(String)

    /// Why a store without living messages (PostgreSQL, for now) refuses replies, changes and search.
    static let files = "files are not supported on PostgreSQL yet"
    static let livingMessages = "replies, edits, deletions, reactions and search are not supported on PostgreSQL yet"

    public var description: String {
        switch self {
        case .unavailable: "storage is unavailable"
        case .unsupported(let reason): reason
        }
    }
}
