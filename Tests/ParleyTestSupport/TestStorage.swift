import Foundation

/// The storages a suite written for both runs against: SQLite always, PostgreSQL when scripts/test started
/// one (`@Test(arguments: TestStorage.available)`).
public enum TestStorage: String, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public static var available: [TestStorage] { TestPostgres.url == nil ? [.sqlite] : [.sqlite, .postgres] }

    public var description: String { rawValue }

    /// The server setting that selects it (SQLite is the test server's default).
    public var setting: Setting {
        switch self {
        case .sqlite: Setting { _ in }
        case .postgres: .set(\.database, .postgres(TestPostgres.url ?? ""))
        }
    }

    /// A room code for `name`: on PostgreSQL, which every test shares, made unique to this run.
    public func room(_ name: String) -> String {
        switch self {
        case .sqlite: name
        case .postgres: name + UUID().uuidString.prefix(8).lowercased()
        }
    }
}
