/// Puts a room's changes (§11) into revision order for its members on this node, whichever way they arrive:
/// from this node's own commits, or from storage after another node announced a revision. The value-type
/// core of ``Room``'s update delivery, tested without sockets.
///
/// Unlike messages, a change need not be sent one by one: an update carries the message's whole current
/// state, so a fetch that reads every message changed after revision `r` covers all revisions up to the
/// room's, even those whose state was overwritten by a later change of the same message.
struct RevisionSequencer<Payload> {
    /// The newest revision sent to members; nil until the first `welcome` anchors it.
    private(set) var delivered: Int64?
    /// Arrivals not yet sendable (before the anchor, or after a gap), by revision. Bounded by `capacity`;
    /// past it, an arrival is dropped and fetched later.
    private var waiting: [Int64: Payload] = [:]
    /// The highest revision known to be committed.
    private(set) var known: Int64 = 0
    /// A fetch from storage is in flight.
    private(set) var fetching = false
    /// `known` when the fetch in flight started.
    private var knownAtFetch: Int64 = 0
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    struct Output {
        var release: [Payload] = []
        /// Fetch the changes after this revision.
        var fetchAfter: Int64?
    }

    /// The first `welcome` showed the room at revision `rev`. What arrived before is released anyway, in
    /// revision order: another member may have read an older state, and an update repeated is harmless. The
    /// cursor moves past the arrivals that follow `rev` without a gap; a revision missing between them (another
    /// node's, committed after the welcome's read) is fetched, not skipped.
    mutating func anchor(rev: Int64) -> Output {
        guard delivered == nil else { return Output() }
        let early = waiting.keys.sorted()
        let release = early.compactMap { waiting.removeValue(forKey: $0) }
        var cursor = rev
        for arrived in early where arrived == cursor + 1 { cursor = arrived }
        delivered = cursor
        known = max(known, cursor, early.last ?? 0)
        var output = drain()
        output.release = release + output.release
        return output
    }

    /// A change this node committed (or fetched one by one), under revision `rev`.
    mutating func receive(rev: Int64, _ payload: Payload) -> Output {
        known = max(known, rev)
        guard let cursor = delivered else {
            if waiting.count < capacity { waiting[rev] = payload }
            return Output()
        }
        // At or below the cursor, a fetch has sent this state or a newer one already.
        guard rev > cursor else { return drain() }
        if rev == cursor + 1 {
            delivered = rev
            var output = Output(release: [payload] + releaseWaiting())
            output.fetchAfter = drain().fetchAfter
            return output
        }
        if waiting.count < capacity { waiting[rev] = payload }
        return drain()
    }

    /// Another node committed a change under revision `rev`.
    mutating func announce(rev: Int64) -> Output {
        known = max(known, rev)
        return drain()
    }

    /// Something may have been committed that nobody announced (a lost listener): check storage.
    mutating func catchUp() -> Output {
        guard let delivered else { return Output() }
        known = max(known, delivered + 1)
        return drain()
    }

    /// The fetch asked for has ended: `changes` (in revision order) cover every revision up to `covered`;
    /// `exhausted` says storage had no revision beyond it.
    mutating func fetched(_ changes: [(rev: Int64, payload: Payload)], covered: Int64, exhausted: Bool) -> Output {
        fetching = false
        guard let cursor = delivered else { return Output() }
        let release = changes.filter { $0.rev > cursor }.map(\.payload)
        let newest = max(cursor, covered, changes.last?.rev ?? 0)
        delivered = newest
        for rev in waiting.keys where rev <= newest { waiting[rev] = nil }
        if exhausted && known == knownAtFetch && known > newest {
            // Nothing was announced meanwhile: what made us look (a catch-up's guess) is not there.
            known = newest
        }
        var output = Output(release: release + releaseWaiting())
        output.fetchAfter = drain().fetchAfter
        return output
    }

    private mutating func releaseWaiting() -> [Payload] {
        guard var cursor = delivered else { return [] }
        var released: [Payload] = []
        while let payload = waiting.removeValue(forKey: cursor + 1) {
            released.append(payload)
            cursor += 1
        }
        delivered = cursor
        return released
    }

    private mutating func drain() -> Output {
        var output = Output(release: releaseWaiting())
        guard let cursor = delivered else { return output }
        if known > cursor && !fetching {
            fetching = true
            knownAtFetch = known
            output.fetchAfter = cursor
        }
        return output
    }
}
