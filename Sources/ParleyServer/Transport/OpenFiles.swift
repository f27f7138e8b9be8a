import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`). Every socket is a file descriptor, and so are SQLite's
/// files, PostgreSQL's connections and the files libdispatch reads in `/proc`: a process that runs out dies
/// in libdispatch rather than failing one `accept` (seen under `ulimit -n 64`), so the listener keeps clear
/// of the limit (``AcceptGate``).
public enum OpenFiles {
    /// Descriptors kept for everything but accepted sockets once the server is up: SQLite's readers
    /// (two files each), PostgreSQL's pool, libdispatch, and the few sockets one read of the listener
    /// accepts after the gate closes.
    static let reserve = 64

    /// The soft limit, or nil when there is none.
    static var softLimit: Int? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(limit.rlim_cur)
    }

    /// Raises the soft limit to `wanted`, or to the hard limit when nil, never lowering it. Returns the hard
    /// limit when `wanted` is above it (nothing changes then), nil otherwise.
    @discardableResult
    public static func raiseSoftLimit(to wanted: Int? = nil) -> Int? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let target = wanted.map { rlim_t($0) } ?? limit.rlim_max
        guard target <= limit.rlim_max else { return Int(limit.rlim_max) }
        guard limit.rlim_cur < target else { return nil }
        limit.rlim_cur = target
        _ = setrlimit(resource, &limit)
        return nil
    }

    /// How many sockets the listener may hold at once: the soft limit less what is open now and
    /// ``reserve``; nil when there is no limit. At least one, so that a tiny limit slows the server
    /// rather than stopping it.
    static func socketCapacity() -> Int? {
        guard let limit = softLimit else { return nil }
        return max(1, limit - inUse - reserve)
    }

    /// Descriptors open now: the entries of `/proc/self/fd` less the one that lists them. Zero where
    /// there is no `/proc`.
    static var inUse: Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        return entries.count - 1
    }

    #if os(Linux)
    private static let resource = Int32(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif
}
