import Testing

@testable import ParleyServer

/// The revision order of `update`s on one node (§11), without sockets.
@Suite struct RevisionSequencerTests {
    @Test func arrivalsBeforeTheAnchorAreReleasedInOrder() {
        var sequencer = RevisionSequencer<Int64>()
        #expect(sequencer.receive(rev: 3, 3).release.isEmpty)
        #expect(sequencer.receive(rev: 2, 2).release.isEmpty)
        let output = sequencer.anchor(rev: 1)
        #expect(output.release == [2, 3] && output.fetchAfter == nil && sequencer.delivered == 3)
        #expect(sequencer.anchor(rev: 0).release.isEmpty, "a second anchor changes nothing")
    }

    /// This node committed revisions 7 and 9 before the room's first welcome, which read revision 5: 6 and 8
    /// are another node's, and must be fetched rather than skipped.
    @Test func aGapAmongArrivalsBeforeTheAnchorIsFetched() {
        var sequencer = RevisionSequencer<Int64>()
        _ = sequencer.receive(rev: 9, 9)
        _ = sequencer.receive(rev: 7, 7)
        let output = sequencer.anchor(rev: 5)
        #expect(output.release == [7, 9] && output.fetchAfter == 5 && sequencer.delivered == 5)
        let fetched = sequencer.fetched([(6, 6), (7, 7), (8, 8), (9, 9)], covered: 9, exhausted: true)
        #expect(fetched.release == [6, 7, 8, 9] && fetched.fetchAfter == nil && sequencer.delivered == 9)

        var following = RevisionSequencer<Int64>()
        _ = following.receive(rev: 6, 6)
        _ = following.receive(rev: 8, 8)
        let afterSix = following.anchor(rev: 5)
        #expect(afterSix.release == [6, 8] && afterSix.fetchAfter == 6 && following.delivered == 6)
    }

    @Test func ownCommitsInOrderNeedNoFetch() {
        var sequencer = RevisionSequencer<Int64>()
        _ = sequencer.anchor(rev: 5)
        for rev in Int64(6)...8 {
            let output = sequencer.receive(rev: rev, rev)
            #expect(output.release == [rev] && output.fetchAfter == nil)
        }
        #expect(sequencer.receive(rev: 4, 4).release.isEmpty, "older than what was sent")
    }

    /// Another node's revision is fetched; a local one behind it waits and is covered by the fetch.
    @Test func aGapIsFetchedAndCoversWhatWaited() {
        var sequencer = RevisionSequencer<Int64>()
        _ = sequencer.anchor(rev: 0)
        #expect(sequencer.announce(rev: 1).fetchAfter == 0)
        let waiting = sequencer.receive(rev: 2, 2)
        #expect(waiting.release.isEmpty && waiting.fetchAfter == nil, "one fetch at a time")
        let fetched = sequencer.fetched([(rev: 2, payload: 20)], covered: 2, exhausted: true)
        #expect(fetched.release == [20] && fetched.fetchAfter == nil && sequencer.delivered == 2)
        #expect(sequencer.receive(rev: 3, 3).release == [3])
    }

    @Test func aCatchUpThatFindsNothingStops() {
        var sequencer = RevisionSequencer<Int64>()
        _ = sequencer.anchor(rev: 4)
        #expect(sequencer.catchUp().fetchAfter == 4)
        let output = sequencer.fetched([], covered: 4, exhausted: true)
        #expect(output.fetchAfter == nil && sequencer.known == 4)
        #expect(sequencer.receive(rev: 5, 5).release == [5])
    }

    @Test func aTruncatedOrFailedFetchAsksAgain() {
        var sequencer = RevisionSequencer<Int64>()
        _ = sequencer.anchor(rev: 0)
        _ = sequencer.announce(rev: 900)
        let first = sequencer.fetched([(rev: 500, payload: 500)], covered: 500, exhausted: false)
        #expect(first.release == [500] && first.fetchAfter == 500)
        let failed = sequencer.fetched([], covered: 0, exhausted: false)
        #expect(failed.release.isEmpty && failed.fetchAfter == 500)
    }
}
