import NIOCore
import Testing

@testable import ParleyServer

@Suite struct EventLoopThreadsTests {
    @Test(arguments: [
        ("0", 1), ("0-1", 2), ("\t0-3,8,10-11", 7), ("2,4,6", 3),
    ])
    func cpuListsAreCounted(list: String, count: Int) {
        #expect(EventLoopThreads.cpuCount(list: Substring(list)) == count)
    }

    @Test(arguments: ["x", "3-1", "1-2-3", "0,,1"])
    func malformedCPUListsAreNotGuessed(list: String) {
        #expect(EventLoopThreads.cpuCount(list: Substring(list)) == nil)
    }

    @Test func theProcessMayRunOnAtLeastOneCPUAndNoMoreThanNIOCounts() {
        #expect((1...System.coreCount).contains(EventLoopThreads.allowedCPUs))
    }
}
