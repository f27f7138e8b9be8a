/// Storage failures as connections and routes see them.
public enum StorageError: Error, CustomStringConvertible {
    case unavailable
    case unsupported(String)

    public var description: String {
        switch self {
        case .unavailable: "storage is unavailable"
        case .unsupported(let reason): reason
        }
    }
}
