import ParleyProtocol

extension RoomRegistry {
    /// The hop from storage back to the rooms: what became of a message this node sent to storage, handed
    /// to the live room it was sent in (looked up now, so a room re-created meanwhile still gets it).
    ///
    /// Every ``PendingMessage`` a connection or the HTTP API builds calls this first from its completion,
    /// which the stores run in commit order (``CommitOutcome/complete(_:metrics:logger:)``). A stored message
    /// goes to every member (``Room/receive(_:)``); after a failed commit the room checks storage, in case the
    /// commit landed but its answer was lost.
    func deliver(_ result: AppendResult, toRoom code: String) {
        switch result {
        case .stored(let message): receiving(code: code)?.receive([message])
        case .failed: receiving(code: code)?.catchUp()
        case .changed(let rev, let message): receiving(code: code)?.update(rev: rev, message: message)
        case .duplicate, .conflict, .noRoom, .unchanged, .refused: break
        }
    }
}
