import Testing

@testable import ParleyServer

/// The order messages leave a room in, whichever way they arrive: own commits, fetches after another
/// node's announcement, catch-ups after a lost listener.
@Suite struct RoomSequencerTests {
    typealias Sequencer = RoomSequencer<Int64>

    func arrivals(_ ids: Int64...) -> [(id: Int64, payload: Int64)] { ids.map { ($0, $0) } }

    /// Two first members join at once: one read history up to 3, the other up to 5, and 4-6 were committed
    /// meanwhile. Whichever anchors first, 4 and 5 still go out (the outbox of the member whose history
    /// covered them drops them), so the member with the shorter history misses nothing.
    @Test func waitsForTheAnchorThenReleasesEverythingThatWaitedInOrder() {
        var sequencer = Sequencer()
        #expect(sequencer.receive(arrivals(6, 4, 5)).release.isEmpty)
        let output = sequencer.anchor(after: 5)
        #expect(output.release == [4, 5, 6])
        #expect(output.fetchAfter == nil)
        #expect(sequencer.anchor(after: 3).release.isEmpty, "a second anchor changes nothing")
        #expect(sequencer.receive(arrivals(7, 5)).release == [7], "what was released is not released again")
    }

    @Test func repeatsAreDroppedAndOutOfOrderArrivalsWait() {
        var sequencer = Sequencer()
        _ = sequencer.anchor(after: 0)
        #expect(sequencer.receive(arrivals(1, 1)).release == [1])
        let early = sequencer.receive(arrivals(3))
        #expect(early.release.isEmpty)
        #expect(early.fetchAfter == 1, "3 proves 2 exists: fetch it")
        #expect(sequencer.receive(arrivals(2, 1)).release == [2, 3])
        #expect(sequencer.fetchEnded(exhausted: true).release.isEmpty)
        #expect(sequencer.next == 4)
    }

    @Test func anAnnouncementFetchesOnceUntilTheFetchEnds() {
        var sequencer = Sequencer()
        _ = sequencer.anchor(after: 10)
        #expect(sequencer.announce(last: 12).fetchAfter == 10)
        #expect(sequencer.announce(last: 14).fetchAfter == nil, "one fetch in flight")
        // The fetch saw 11 and 12 only; 13 and 14 were announced meanwhile, so it fetches again.
        #expect(sequencer.receive(arrivals(11, 12)).release == [11, 12])
        let again = sequencer.fetchEnded(exhausted: true)
        #expect(again.fetchAfter == 12)
        #expect(sequencer.receive(arrivals(13, 14)).release == [13, 14])
        #expect(sequencer.fetchEnded(exhausted: true).fetchAfter == nil)
    }

    @Test func aCatchUpThatFindsNothingStopsAsking() {
        var sequencer = Sequencer()
        _ = sequencer.anchor(after: 3)
        #expect(sequencer.catchUp().fetchAfter == 3)
        let ended = sequencer.fetchEnded(exhausted: true)
        #expect(ended.fetchAfter == nil)
        #expect(sequencer.known == 3)
        // A failed fetch (not exhausted) asks again.
        #expect(sequencer.catchUp().fetchAfter == 3)
        #expect(sequencer.fetchEnded(exhausted: false).fetchAfter == 3)
    }

    @Test func arrivalsPastCapacityAreFetchedLater() {
        var sequencer = RoomSequencer<Int64>(capacity: 2)
        _ = sequencer.anchor(after: 0)
        let output = sequencer.receive(arrivals(2, 3, 4, 5))
        #expect(output.release.isEmpty)
        #expect(output.fetchAfter == 0)
        // The fetch returns 1 and 2 (a page); 3 is waiting, 4 and 5 were dropped but are still known.
        #expect(sequencer.receive(arrivals(1, 2)).release == [1, 2, 3])
        #expect(sequencer.fetchEnded(exhausted: false).fetchAfter == 3)
        #expect(sequencer.receive(arrivals(4, 5)).release == [4, 5])
    }

    /// The node's own notice arrives before or after its completion: nothing is fetched for it; only a commit
    /// whose completion never came (its answer timed out) is fetched, when the room settles.
    @Test func ownCommitsAreFetchedOnlyWhenTheirCompletionNeverCame() {
        var sequencer = Sequencer()
        _ = sequencer.anchor(after: 0)
        sequencer.committedHere(last: 2)
        #expect(sequencer.receive(arrivals(1, 2)).release == [1, 2])
        #expect(sequencer.settle().fetchAfter == nil, "delivered from its completion")
        sequencer.committedHere(last: 4)
        let settled = sequencer.settle()
        #expect(settled.fetchAfter == 2, "3 and 4 committed late: fetch them")
        #expect(sequencer.receive(arrivals(3, 4)).release == [3, 4])
        #expect(sequencer.fetchEnded(exhausted: true).fetchAfter == nil)
    }
}
