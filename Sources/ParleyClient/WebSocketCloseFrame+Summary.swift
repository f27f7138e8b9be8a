import HummingbirdWSClient

extension WebSocketCloseFrame {
    /// The close code (by name when the library knows it, else its number) and the reason, for people
    /// reading a client's or a benchmark's report.
    public var summary: String {
        let code: String =
            switch closeCode {
            case .unknown(let raw): String(raw)
            default: String(describing: closeCode)
            }
        guard let reason, !reason.isEmpty else { return code }
        return "\(code) \(reason)"
    }
}
