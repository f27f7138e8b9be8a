extension Latch {
    /// Waits until the latch opens or `limit` passes, whichever comes first; `nil` if the time ran out
    /// (or the task was cancelled).
    public func wait(atMost limit: Duration) async -> Value? {
        await withTaskGroup(of: Value?.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
    }
}
