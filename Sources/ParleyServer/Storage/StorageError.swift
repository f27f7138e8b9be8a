/// Storage failures as connections and routes see them.
public enum StorageError: Error, CustomStringConvertible {
    case unavailable
    case unsupported(String)

    /// Why a store without files refuses uploads and attachments.
    static let files = "files are not supported on PostgreSQL yet"
    /// Why a store without living messages (the benchmark store) refuses replies, changes and search.
    static let livingMessages = "replies, edits, deletions, reactions and search are not supported by this storage"

    public var description: String {
        switch self {
        case .unavailable: "storage is unavailable"
        case .unsupported(let reason): reason
        }
    }
}
