/// Checks one member's stream of message ids: each id must be the previous one plus 1.
///
/// A value type with no clock and no I/O, so it is tested directly. It tells three faults apart:
///
/// - a **gap**: ids that never arrived. An id above the one expected opens a hole; the hole counts as a gap
///   only if it is still open when the stream ends (``finish()``).
/// - a **reordering**: an id that arrived after a higher one, filling (part of) a hole.
/// - a **duplicate**: an id that had already arrived (or that `welcome` already covered).
///
/// ```swift
/// var checker = SequenceChecker(after: welcome.lastID)
/// for id in ids { _ = checker.observe(id) }
/// let gaps = checker.finish()
/// ```
public struct SequenceChecker: Sendable, Equatable {
    /// What one id meant.
    public enum Observation: Sendable, Equatable {
        /// The id expected next (or the first one, when there was no starting point).
        case inOrder
        /// The id jumped ahead: `expected..<got` are missing for now.
        case jump(expected: Int64, got: Int64)
        /// A missing id arrived after a higher one.
        case late(expected: Int64, got: Int64)
        /// The id had been seen already.
        case duplicate(expected: Int64, got: Int64)
    }

    /// A hole still open: the ids in `ids` never arrived; `revealedBy` is the id that jumped over them.
    public struct Hole: Sendable, Equatable {
        public var ids: ClosedRange<Int64>
        public var revealedBy: Int64
        /// When the jump was seen, as passed to ``SequenceChecker/observe(_:at:)``.
        public var at: Int64

        public init(ids: ClosedRange<Int64>, revealedBy: Int64, at: Int64) {
            self.ids = ids
            self.revealedBy = revealedBy
            self.at = at
        }
    }

    /// The most holes remembered; older ones beyond it are counted in ``abandonedHoles`` and can no longer heal.
    public static let maxHoles = 1024

    /// The id expected next; `nil` until the first id when there was no starting point.
    public private(set) var expected: Int64?
    /// The first id, in a stream without a starting point: ids below it count as reorderings (they came after it).
    private var first: Int64?
    public private(set) var holes: [Hole] = []
    public private(set) var abandonedHoles = 0
    public private(set) var abandonedIDs: Int64 = 0
    public private(set) var lateCount = 0
    public private(set) var duplicateCount = 0
    public private(set) var count = 0

    /// - Parameter lastID: the newest id already covered (`welcome.last_id`); the next id must be `lastID + 1`.
    ///   Without it, the first id observed sets the starting point.
    public init(after lastID: Int64? = nil) {
        expected = lastID.map { $0 + 1 }
    }

    /// Takes the next id, in arrival order.
    public mutating func observe(_ id: Int64, at time: Int64 = 0) -> Observation {
        count += 1
        guard let next = expected else {
            expected = id + 1
            first = id
            return .inOrder
        }
        if id == next {
            expected = next + 1
            return .inOrder
        }
        if id > next {
            addHole(Hole(ids: next...(id - 1), revealedBy: id, at: time))
            expected = id + 1
            return .jump(expected: next, got: id)
        }
        if fillHole(containing: id) {
            lateCount += 1
            return .late(expected: next, got: id)
        }
        if let first, id < first {
            // Below the first id of a stream without a starting point: it came after a higher one.
            lateCount += 1
            return .late(expected: next, got: id)
        }
        duplicateCount += 1
        return .duplicate(expected: next, got: id)
    }

    /// The holes that never healed, oldest first. Call when the stream has ended.
    public func finish() -> [Hole] { holes }

    /// Gaps at the end: open holes, including abandoned ones.
    public var gapCount: Int { holes.count + abandonedHoles }

    /// Ids that never arrived, as far as the stream shows.
    public var missingIDs: Int64 { holes.reduce(abandonedIDs) { $0 + Int64($1.ids.count) } }

    private mutating func addHole(_ hole: Hole) {
        if holes.count == Self.maxHoles {
            let oldest = holes.removeFirst()
            abandonedHoles += 1
            abandonedIDs += Int64(oldest.ids.count)
        }
        holes.append(hole)
    }

    /// Removes `id` from the hole holding it; returns whether one did.
    private mutating func fillHole(containing id: Int64) -> Bool {
        guard let index = holes.firstIndex(where: { $0.ids.contains(id) }) else { return false }
        let hole = holes[index]
        var pieces: [Hole] = []
        if hole.ids.lowerBound < id { pieces.append(Hole(ids: hole.ids.lowerBound...(id - 1), revealedBy: hole.revealedBy, at: hole.at)) }
        if id < hole.ids.upperBound { pieces.append(Hole(ids: (id + 1)...hole.ids.upperBound, revealedBy: hole.revealedBy, at: hole.at)) }
        holes.replaceSubrange(index...index, with: pieces)
        return true
    }
}
