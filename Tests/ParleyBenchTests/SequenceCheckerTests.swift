import ParleyBench
import Testing

@Suite struct SequenceCheckerTests {
    @Test func contiguousIDsAreInOrder() {
        var checker = SequenceChecker(after: 10)
        for id in Int64(11)...20 { #expect(checker.observe(id) == .inOrder) }
        #expect(checker.finish().isEmpty)
        #expect(checker.gapCount == 0 && checker.duplicateCount == 0 && checker.lateCount == 0)
        #expect(checker.expected == 21)
    }

    @Test func withoutAStartingPointTheFirstIDSetsIt() {
        var checker = SequenceChecker()
        #expect(checker.observe(42) == .inOrder)
        #expect(checker.observe(43) == .inOrder)
        #expect(checker.observe(41) == .late(expected: 44, got: 41))
    }

    @Test func aSkippedIDIsAGapThatStaysOpen() {
        var checker = SequenceChecker(after: 0)
        _ = checker.observe(1)
        _ = checker.observe(2)
        #expect(checker.observe(4, at: 7) == .jump(expected: 3, got: 4))
        #expect(checker.observe(5) == .inOrder)
        #expect(checker.finish() == [SequenceChecker.Hole(ids: 3...3, revealedBy: 4, at: 7)])
        #expect(checker.gapCount == 1)
        #expect(checker.missingIDs == 1)
        #expect(checker.lateCount == 0 && checker.duplicateCount == 0)
    }

    @Test func aGapBeforeTheFirstLiveMessageCounts() {
        var checker = SequenceChecker(after: 5)
        #expect(checker.observe(8) == .jump(expected: 6, got: 8))
        #expect(checker.missingIDs == 2)
    }

    @Test func aRepeatedIDIsADuplicate() {
        var checker = SequenceChecker(after: 0)
        _ = checker.observe(1)
        _ = checker.observe(2)
        #expect(checker.observe(2) == .duplicate(expected: 3, got: 2))
        #expect(checker.observe(3) == .inOrder)
        #expect(checker.duplicateCount == 1 && checker.gapCount == 0 && checker.lateCount == 0)
    }

    @Test func anIDTheWelcomeCoveredIsADuplicate() {
        var checker = SequenceChecker(after: 5)
        #expect(checker.observe(5) == .duplicate(expected: 6, got: 5))
    }

    @Test func twoSwappedIDsAreOneReorderAndNoGap() {
        var checker = SequenceChecker(after: 0)
        _ = checker.observe(1)
        #expect(checker.observe(3) == .jump(expected: 2, got: 3))
        #expect(checker.observe(2) == .late(expected: 4, got: 2))
        #expect(checker.observe(4) == .inOrder)
        #expect(checker.finish().isEmpty)
        #expect(checker.lateCount == 1 && checker.gapCount == 0 && checker.duplicateCount == 0)
        // Once filled, the same id again is a duplicate.
        #expect(checker.observe(2) == .duplicate(expected: 5, got: 2))
    }

    @Test func aLateIDSplitsItsHole() {
        var checker = SequenceChecker(after: 0)
        _ = checker.observe(1)
        _ = checker.observe(6)
        #expect(checker.observe(4) == .late(expected: 7, got: 4))
        #expect(checker.finish().map(\.ids) == [2...3, 5...5])
        #expect(checker.gapCount == 2)
        #expect(checker.missingIDs == 3)
    }

    @Test func holesBeyondTheCapAreAbandonedButCounted() {
        var checker = SequenceChecker(after: 0)
        var id: Int64 = 0
        for _ in 0..<(SequenceChecker.maxHoles + 5) {
            id += 2
            _ = checker.observe(id)
        }
        #expect(checker.holes.count == SequenceChecker.maxHoles)
        #expect(checker.abandonedHoles == 5)
        #expect(checker.gapCount == SequenceChecker.maxHoles + 5)
        #expect(checker.missingIDs == Int64(SequenceChecker.maxHoles + 5))
    }
}
