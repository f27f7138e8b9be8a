import Foundation

/// A fresh directory under the system's temporary directory, removed with the last reference to it (a
/// suite instance keeps one for the length of its test).
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init(prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}
