import Synchronization

/// Files (§14): an upload's progress line, and sizes as people read them.
extension ChatPrinter {
    final class UploadShown: Sendable {
        let percent = Mutex(-1)
    }

    /// One status line, rewritten in place as the percentage grows.
    func progress(sent: Int64, of total: Int64) {
        let percent = total > 0 ? Int(sent * 100 / total) : 0
        let changed = uploadShown.percent.withLock { shown in
            defer { shown = percent }
            return shown != percent
        }
        guard changed else { return }
        status.write("\rparley: uploading \(Self.byteCount(sent)) of \(Self.byteCount(total)) (\(percent)%)")
    }

    /// Ends the progress line, if one was shown.
    func progressDone() {
        let shown = uploadShown.percent.withLock { shown in
            defer { shown = -1 }
            return shown >= 0
        }
        if shown { status.write("\n") }
    }

    /// `512 B`, `1.5 KB`, `12.3 MB`, `2.0 GB` (powers of 1,000).
    static func byteCount(_ bytes: Int64) -> String {
        guard bytes >= 1000 else { return "\(bytes) B" }
        var value = Double(bytes) / 1000
        for unit in ["KB", "MB", "GB"] {
            if value < 1000 || unit == "GB" {
                return "\((value * 10).rounded() / 10) \(unit)"
            }
            value /= 1000
        }
        return "\(bytes) B"
    }
}
