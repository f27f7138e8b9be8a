import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The event-loop threads servers in this process run on.
///
/// NIO's shared group has one thread per CPU of the machine (less any cgroup limit), but not per CPU the
/// process may actually run on: pinned to one CPU (`taskset -c 0`), two loops took turns on it, and cost CPU
/// and latency for nothing (docs/PERFORMANCE.md, "Measurements behind the code"). Groups made here live as
/// long as the process, like NIO's own.
enum EventLoopThreads {
    /// The group for `threads` loops; nil: one loop per CPU this process may run on.
    static func group(threads: Int?) -> any EventLoopGroup {
        let count = threads ?? allowedCPUs
        if count == System.coreCount { return MultiThreadedEventLoopGroup.singleton }
        return groups.withLock { groups in
            if let group = groups[count] { return group }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: count)
            groups[count] = group
            return group
        }
    }

    private static let groups = Mutex<[Int: MultiThreadedEventLoopGroup]>([:])

    /// CPUs in this process's affinity mask, never more than NIO counts (it applies cgroup limits).
    static var allowedCPUs: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
            let count = cpuCount(list: line.dropFirst("Cpus_allowed_list:".count)), count > 0
        else { return System.coreCount }
        return min(count, System.coreCount)
    }

    /// The number of CPUs in a kernel CPU list such as `0-3,8,10-11`; nil if it does not parse.
    static func cpuCount(list: Substring) -> Int? {
        var count = 0
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1:
                guard bounds[0] != nil else { return nil }
                count += 1
            case 2:
                guard let low = bounds[0], let high = bounds[1], low <= high else { return nil }
                count += high - low + 1
            default:
                return nil
            }
        }
        return count
    }
}
