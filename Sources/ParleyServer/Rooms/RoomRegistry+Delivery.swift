import ParleyProtocol

/// Where a committed message goes on this node: the live room of `code`, looked up when the commit is done.
struct RoomDelivery: Sendable {
    let rooms: RoomRegistry
    let code: String

    /// The same room of the same registry.
    func reaches(_ other: RoomDelivery) -> Bool {
        code == other.code && rooms === other.rooms
    }
}

extension RoomRegistry {
    /// The hop from storage back to the rooms: what became of a message this node sent to storage, handed
    /// to the live room it was sent in (looked up now, so a room re-created meanwhile still gets it).
    ///
    /// Every ``PendingMessage`` a connection or the HTTP API builds names its room (``PendingMessage/delivery``),
    /// and the stores call this before its completion, in commit order (``CommitOutcome/complete(_:metrics:logger:)``).
    /// A stored message goes to every member (``Room/receive(_:)``); after a failed commit the room checks storage,
    /// in case the commit landed but its answer was lost.
    func deliver(_ result: AppendResult, toRoom code: String) {
        switch result {
        case .stored(let message): receiving(code: code)?.receive([message])
        case .failed: receiving(code: code)?.catchUp()
        case .changed(let rev, let message): receiving(code: code)?.update(rev: rev, message: message)
        case .duplicate, .conflict, .noRoom, .unchanged, .refused: break
        }
    }

    /// Messages stored one after another in room `code`, in commit order: one pass over its members for all.
    func deliver(_ messages: [ChatMessage], toRoom code: String) {
        receiving(code: code)?.receive(messages)
    }
}
