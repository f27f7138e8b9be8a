#if canImport(Glibc)
import Glibc

private let selfUsage = __rusage_who_t(RUSAGE_SELF.rawValue)
#elseif canImport(Darwin)
import Darwin

private let selfUsage = RUSAGE_SELF
#endif

/// CPU time this process has used, user and system, so the report can say how busy the generator itself was.
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        guard getrusage(selfUsage, &usage) == 0 else { return 0 }
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
