import ParleyProtocol

/// The nicks a room's members hold, and the suffix each clashing nick tries next: the nick rule of
/// contract §2 (`NICK-2`, `NICK-3`, …, compared case-insensitively) at O(1) amortised work per join, however
/// many members share a nick, because the room lock is held while it runs.
///
/// Each nick that clashed keeps a counter of the next suffix to try. The counter only grows, so every
/// candidate is checked at most once per counter: a join costs the base nick plus, usually, one suffixed
/// candidate. A suffix freed by a leave is therefore not handed out again while the counter lives, so a
/// room can show `bob-3` beside no `bob-2`. Counters of nicks that nobody holds are dropped when they
/// outnumber the members, which bounds their memory; a dropped counter starts again at 2.
struct NickAllocator<Holder: Hashable> {
    /// Who holds each nick, by ``Nick/key(_:)``.
    private(set) var holders: [String: Holder] = [:]
    /// The next suffix to try, by the key of the nick that clashed.
    private(set) var nextSuffix: [String: Int] = [:]
    /// Candidates checked so far: the work of every allocation, counted so tests can bound it.
    private(set) var probes = 0

    /// The holder of `nick`, compared case-insensitively.
    func holder(of nick: String) -> Holder? {
        holders[Nick.key(nick)]
    }

    /// Whether someone other than `except` holds `nick`.
    func isTaken(_ nick: String, except: Holder? = nil) -> Bool {
        guard let holder = holder(of: nick) else { return false }
        return holder != except
    }

    /// Gives `holder` the nick `desired`, or the first untried free `desired-n`, and returns it.
    mutating func allocate(_ desired: String, to holder: Holder) -> String {
        let key = Nick.key(desired)
        probes += 1
        if holders[key] == nil {
            holders[key] = holder
            return desired
        }
        var n = nextSuffix[key] ?? 2
        while true {
            let candidate = Nick.suffixed(desired, n)
            let candidateKey = Nick.key(candidate)
            probes += 1
            n += 1
            if holders[candidateKey] == nil {
                holders[candidateKey] = holder
                nextSuffix[key] = n
                pruneIfNeeded()
                return candidate
            }
        }
    }

    /// Gives `holder` exactly `nick` (a session taking its nick back, a rename already checked, a nick the
    /// cluster reserved).
    mutating func assign(_ nick: String, to holder: Holder) {
        holders[Nick.key(nick)] = holder
    }

    /// Frees `nick` if `holder` holds it.
    mutating func release(_ nick: String, heldBy holder: Holder) {
        let key = Nick.key(nick)
        if holders[key] == holder { holders.removeValue(forKey: key) }
    }

    /// Drops the counters of nicks nobody holds once they outnumber the members: a counter whose nick is
    /// free is not needed until that nick clashes again. Dropping happens after as many new counters as
    /// there are members, so what re-checking a restarted counter costs stays O(1) per join.
    private mutating func pruneIfNeeded() {
        guard nextSuffix.count > 2 * holders.count + 64 else { return }
        nextSuffix = nextSuffix.filter { holders[$0.key] != nil }
    }
}
