import DequeModule
import NIOCore

/// A live room's newest messages in their current state, already encoded, so that a `welcome` for a member
/// of a live room needs no storage read. The value-type core of ``Room``'s history cache, tested without
/// sockets.
///
/// It answers only when it can answer exactly as storage would: it holds every message of the room with an
/// id above ``floor`` up to ``last`` (the room's ids are contiguous and released in order), each as changed up
/// to revision ``rev``. Anything it cannot vouch for (a request reaching below the floor, changes a resuming
/// client missed, an update for a message not yet delivered) gets nil, and the caller reads storage.
struct RecentMessages {
    /// How much one room keeps; past either bound the oldest messages go (and the floor rises).
    struct Bounds: Sendable, Equatable {
        var count: Int
        var bytes: Int

        /// Keeps nothing: every `welcome` reads storage.
        static let none = Bounds(count: 0, bytes: 0)

        /// Enough for a `welcome` without `since` (`historySize` messages, and one more to know there are more),
        /// and at most 64 KiB of encoded messages per room.
        init(historySize: Int) {
            self.init(count: historySize + 1, bytes: 64 * 1024)
        }

        init(count: Int, bytes: Int) {
            self.count = count
            self.bytes = bytes
        }
    }

    struct Entry {
        var id: Int64
        /// The message's JSON object fields, without braces (``EventEncoder/fields(ofMessageFrame:)``).
        var fields: ByteBuffer
        /// The revision its state is known at: an older change arriving late must not overwrite it.
        var rev: Int64
    }

    /// What a `welcome` shows: as ``MessagePage``, with the messages encoded.
    struct Page: Equatable {
        var history: [ByteBuffer]
        var hasMore: Bool
        var lastID: Int64
        var rev: Int64
    }

    let bounds: Bounds
    private var entries = Deque<Entry>()
    private var bytes = 0
    /// Every message with an id in `floor + 1 ... last` is in `entries`; nil until seeded, and after something
    /// happened that the cache cannot follow exactly.
    private(set) var last: Int64?
    private(set) var floor: Int64 = 0
    /// The room's revision as far as its changes have been applied here.
    private(set) var rev: Int64 = 0

    init(bounds: Bounds) {
        self.bounds = bounds
    }

    var count: Int { entries.count }

    /// Whether it takes in what the room releases: seeded, and not emptied since (else nothing is sliced for it).
    var follows: Bool { last != nil }

    /// Starts from the first `welcome`'s page, read from storage in one snapshot: `messages` (ascending) are
    /// every message of the room with an id above `floor` up to `lastID`, as of revision `rev`.
    mutating func seed(_ messages: [(id: Int64, fields: ByteBuffer)], floor: Int64, lastID: Int64, rev: Int64) {
        guard last == nil, bounds.count > 0 else { return }
        self.floor = floor
        self.last = lastID
        self.rev = rev
        for message in messages where message.id > floor && message.id <= lastID {
            entries.append(Entry(id: message.id, fields: message.fields, rev: rev))
            bytes += message.fields.readableBytes
        }
        trim()
    }

    /// A message released to the members, in id order.
    mutating func delivered(id: Int64, fields: ByteBuffer) {
        guard let last else { return }
        if id <= last { return }
        guard id == last + 1 else {
            // A gap: the cache no longer knows every message up to `id`.
            invalidate()
            return
        }
        entries.append(Entry(id: id, fields: fields, rev: 0))
        bytes += fields.readableBytes
        self.last = id
        trim()
    }

    /// A change released to the members: the message's whole current state under revision `rev`.
    mutating func changed(id: Int64, rev: Int64, fields: ByteBuffer) {
        guard let last else { return }
        guard id <= last else {
            // Changed before its message was delivered here: the delivery will carry the older state.
            invalidate()
            return
        }
        guard id > floor, let first = entries.first?.id else { return }
        let index = Int(id - first)
        guard entries.indices.contains(index), entries[index].id == id else {
            // Ids are contiguous in a room; if they were not here, nothing found could be trusted.
            invalidate()
            return
        }
        guard rev > entries[index].rev else { return }
        bytes += fields.readableBytes - entries[index].fields.readableBytes
        entries[index].fields = fields
        entries[index].rev = rev
        trim()
    }

    /// The room's changes have been applied up to `rev` (the revision sequencer's cursor).
    mutating func revised(to rev: Int64) {
        guard last != nil else { return }
        self.rev = max(self.rev, rev)
    }

    /// The newest `limit` messages after `since` (all of the room's when nil), or nil when storage must answer.
    /// With `clientRev` (a client resuming with `since` and `rev`), only when it missed no change, as the cache
    /// keeps none of the changes themselves.
    func page(after since: Int64?, clientRev: Int64?, limit: Int) -> Page? {
        guard let last, limit > 0 else { return nil }
        if let clientRev, clientRev < rev { return nil }
        let available: Int
        if let since {
            guard since >= floor else { return nil }
            available = entries.reversed().prefix { $0.id > since }.count
        } else {
            // Whether anything precedes the page is known only when the cache reaches back to the room's first
            // message or holds more than the page.
            guard floor == 0 || entries.count > limit else { return nil }
            available = entries.count
        }
        let history = entries.suffix(min(available, limit)).map(\.fields)
        return Page(history: history, hasMore: available > limit, lastID: last, rev: rev)
    }

    mutating func invalidate() {
        entries.removeAll()
        bytes = 0
        last = nil
    }

    private mutating func trim() {
        while entries.count > bounds.count || bytes > bounds.bytes, let oldest = entries.popFirst() {
            bytes -= oldest.fields.readableBytes
            floor = oldest.id
        }
    }
}
