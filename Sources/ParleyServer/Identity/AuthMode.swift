/// Whether a WebSocket or a state-changing HTTP request needs a signed identity (contract §13).
public enum AuthMode: String, Sendable, CaseIterable {
    /// Anonymous nick users join beside verified ones; a token given must still be valid.
    case optional
    /// Every WebSocket and every state-changing HTTP request carries a valid token.
    case required
}
