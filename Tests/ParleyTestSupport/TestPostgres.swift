import Foundation

/// The throwaway PostgreSQL that scripts/test starts (`scripts/test-postgres`), for the suites that need one.
public enum TestPostgres {
    /// Its URL, or nil when none was started: those suites are then skipped.
    public static let url = ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_URL"]
}
