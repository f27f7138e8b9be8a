/// Puts a room's committed messages into id order for its members on this node, whichever way they
/// arrive: from this node's own commits, from storage after another node announced a commit, or after a
/// missed announcement. The value-type core of ``Room``'s delivery, tested without sockets.
///
/// Until the first member's `welcome` says up to which id history covered (``anchor(after:)``), arrivals
/// wait; the anchor releases them all, in id order. After that, message `n + 1` is released only after `n`; when a later id is known to exist but an
/// earlier one has not arrived, the sequencer asks for one fetch from storage at a time.
struct RoomSequencer<Payload> {
    /// The next id to release; nil until anchored.
    private(set) var next: Int64?
    /// Arrivals beyond `next`, by id. Bounded: past `capacity` new arrivals are dropped and fetched later.
    private var waiting: [Int64: Payload] = [:]
    /// The highest id known to be committed.
    private(set) var known: Int64 = 0
    /// A fetch from storage is in flight.
    private(set) var fetching = false
    /// `known` when the fetch in flight started: an announcement after that is not answered by it.
    private var knownAtFetch: Int64 = 0
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// What to do after a step: payloads to send now (in id order), and whether to fetch messages after an id.
    struct Output {
        var release: [Payload] = []
        var fetchAfter: Int64?
    }

    /// Sets the first id to release (once): the first `welcome`'s history ends at `lastID`.
    ///
    /// What waited at or below `lastID` is released too, in id order, not dropped: another member joining at
    /// the same time may have read its history earlier, up to a lower id, and needs those messages. Each
    /// member's outbox drops what its own `welcome` covered (``Outbox/open(with:coveredID:)``), so nobody
    /// gets a message twice.
    mutating func anchor(after lastID: Int64) -> Output {
        guard next == nil else { return Output() }
        next = lastID + 1
        let covered = waiting.keys.filter { $0 <= lastID }.sorted()
        let early = covered.compactMap { waiting.removeValue(forKey: $0) }
        var output = drain()
        output.release = early + output.release
        return output
    }

    /// Messages that are committed, in any order; ids already released are ignored.
    mutating func receive(_ messages: [(id: Int64, payload: Payload)]) -> Output {
        var released: [Payload] = []
        for (id, payload) in messages {
            known = max(known, id)
            guard let cursor = next else {
                if waiting.count < capacity { waiting[id] = payload }
                continue
            }
            if id == cursor {
                // The one everybody waits for goes out at once (and never counts against the capacity).
                released.append(payload)
                next = cursor + 1
                released += releaseWaiting()
            } else if id > cursor, waiting.count < capacity {
                waiting[id] = payload
            }
        }
        var output = drain()
        output.release = released + output.release
        return output
    }

    /// Another node committed up to `lastID`.
    mutating func announce(last lastID: Int64) -> Output {
        known = max(known, lastID)
        return drain()
    }

    /// This node committed up to `lastID` (its own notice). Its completions deliver that, so nothing is fetched
    /// now; if a completion never came (a commit whose answer timed out but that took effect), ``settle()``
    /// fetches it later.
    mutating func committedHere(last lastID: Int64) {
        known = max(known, lastID)
    }

    /// Fetches what is known to be committed but has not arrived (see ``committedHere(last:)``).
    mutating func settle() -> Output {
        drain()
    }

    /// Something may have been committed that nobody announced (a lost listener, an unanswered commit):
    /// check storage from `next`.
    mutating func catchUp() -> Output {
        guard let next else { return Output() }
        known = max(known, next)
        return drain()
    }

    /// The fetch asked for has ended; its messages (if any) come through ``receive(_:)`` first.
    /// `exhausted` says storage had nothing more after them.
    mutating func fetchEnded(exhausted: Bool) -> Output {
        fetching = false
        if exhausted, let next, known == knownAtFetch {
            // Storage has nothing at or beyond `next` and nothing new was announced meanwhile: the catch-up
            // found nothing. Forget the guess; the next arrival or announcement raises `known` again.
            known = min(known, next - 1)
        }
        return drain()
    }

    /// Releases waiting payloads from `next` on while they are contiguous.
    private mutating func releaseWaiting() -> [Payload] {
        guard var cursor = next else { return [] }
        var released: [Payload] = []
        while let payload = waiting.removeValue(forKey: cursor) {
            released.append(payload)
            cursor += 1
        }
        next = cursor
        return released
    }

    private mutating func drain() -> Output {
        var output = Output(release: releaseWaiting())
        guard let cursor = next else { return output }
        if known >= cursor && !fetching {
            fetching = true
            knownAtFetch = known
            output.fetchAfter = cursor - 1
        }
        return output
    }
}
