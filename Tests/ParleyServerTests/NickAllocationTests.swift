import ParleyProtocol
import Testing

@testable import ParleyServer

/// Nick suffixing (contract §2, §8 v2): `NICK-2`, `NICK-3`, … at O(1) work per join, counted in candidates.
@Suite struct NickAllocationTests {
    @Test func clashesGetTheNextSuffixCaseInsensitively() {
        var nicks = NickAllocator<Int>()
        #expect(nicks.allocate("Bob", to: 1) == "Bob")
        #expect(nicks.allocate("bob", to: 2) == "bob-2")
        #expect(nicks.allocate("BOB", to: 3) == "BOB-3")
        #expect(nicks.holder(of: "boB-2") == 2)
        #expect(nicks.isTaken("BOB-3") && !nicks.isTaken("bob-3", except: 3))
        nicks.release("BOB", heldBy: 1)
        #expect(nicks.allocate("bob", to: 4) == "bob")
        // Releasing by someone who does not hold it frees nothing.
        nicks.release("bob", heldBy: 1)
        #expect(nicks.holder(of: "bob") == 4)
    }

    @Test func suffixesDropAsFewTrailingScalarsAsNeeded() {
        var nicks = NickAllocator<Int>()
        let long = String(repeating: "é", count: 31) + "x"
        #expect(nicks.allocate(long, to: 0) == long)
        for n in 2...11 {
            let nick = nicks.allocate(long, to: n)
            let suffix = "-\(n)"
            #expect(nick == String(repeating: "é", count: 32 - suffix.count) + suffix)
            #expect(nick.unicodeScalars.count == 32)
        }
    }

    /// Each candidate is checked once: a nick held by someone who asked for it (`bob-2`) is passed over once,
    /// not again by every later join.
    @Test func eachCandidateIsCheckedOnce() {
        var nicks = NickAllocator<Int>()
        _ = nicks.allocate("bob", to: 0)
        _ = nicks.allocate("bob-2", to: 1)
        _ = nicks.allocate("bob-3", to: 2)
        let before = nicks.probes
        #expect(nicks.allocate("bob", to: 3) == "bob-4")
        #expect(nicks.probes - before == 4)
        #expect(nicks.allocate("bob", to: 4) == "bob-5")
        #expect(nicks.probes - before == 6)
    }

    /// Thousands of members joining as one nick get `bob`, `bob-2`, … `bob-N`, and the work is two candidates
    /// per join (the old scan checked every member for every suffix it tried: about N³/6 comparisons).
    @Test func manyMembersSharingANickCostConstantWorkEach() {
        var state = RoomState<Int>()
        let count = 5000
        for index in 0..<count {
            let joined = state.join(ConnectionID(value: UInt64(index)), desired: "bob", session: secret(index + 1), handle: index)
            #expect(joined.nick == (index == 0 ? "bob" : "bob-\(index + 1)"))
        }
        #expect(state.nickAllocator.probes <= 2 * count)
        #expect(Set(state.nicks.map(Nick.key)).count == count)
        // Leaving and joining again stays at two candidates per join.
        for index in stride(from: 1, to: count, by: 2) { _ = state.leave(ConnectionID(value: UInt64(index))) }
        let before = state.nickAllocator.probes
        for index in 0..<1000 {
            let id = ConnectionID(value: UInt64(count + index))
            #expect(state.join(id, desired: "BOB", session: secret(count + index + 1), handle: index).nick == "BOB-\(count + index + 1)")
        }
        #expect(state.nickAllocator.probes - before == 2000)
    }

    /// A rename frees the old nick and takes the new one; a session takes its nick over without a suffix.
    @Test func renamesAndSessionTakeoversKeepTheIndexExact() throws {
        var state = RoomState<Int>()
        let (a, b, c) = (ConnectionID(value: 1), ConnectionID(value: 2), ConnectionID(value: 3))
        _ = state.join(a, desired: "ann", session: secret(1), handle: 1)
        _ = state.join(b, desired: "bea", session: secret(2), handle: 2)
        _ = try state.rename(a, to: "Anna")
        #expect(state.join(c, desired: "ann", session: secret(3), handle: 3).nick == "ann")
        #expect(throws: ProtocolError.self) { try state.rename(b, to: "ANNA") }
        let takeover = state.join(ConnectionID(value: 4), desired: "ignored", session: secret(2), handle: 4)
        #expect(takeover.nick == "bea" && takeover.replaced?.id == b)
        #expect(state.nickAllocator.holder(of: "bea") == ConnectionID(value: 4))
        #expect(state.leave(b) == nil)
        #expect(state.join(ConnectionID(value: 5), desired: "bea", session: secret(5), handle: 5).nick == "bea-2")
    }

    /// Counters of nicks nobody holds any more are dropped once they outnumber the members.
    @Test func countersOfFreedNicksAreBounded() {
        var nicks = NickAllocator<Int>()
        for round in 0..<1000 {
            _ = nicks.allocate("n\(round)", to: 0)
            _ = nicks.allocate("n\(round)", to: 1)
            nicks.release("n\(round)", heldBy: 0)
            nicks.release("n\(round)-2", heldBy: 1)
        }
        #expect(nicks.holders.isEmpty)
        #expect(nicks.nextSuffix.count <= 2 * 2 + 64)
    }
}
