/// What a `Range` request header asks of a file of `size` bytes (RFC 9110 §14): one range of bytes, or the whole
/// file (no header, another unit, several ranges, or a header that does not parse), or nothing it holds (`416`).
enum ByteRange: Equatable {
    case whole
    /// `lower...upper`, both within the file.
    case part(lower: Int64, upper: Int64)
    case unsatisfiable

    init(header: String?, size: Int64) {
        guard let header, header.hasPrefix("bytes=") else {
            self = .whole
            return
        }
        let spec = header.dropFirst("bytes=".count).filter { $0 != " " && $0 != "\t" }
        // Several ranges would need a multipart answer; the whole file is a valid answer to them.
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else {
            self = .whole
            return
        }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // The last `n` bytes.
            guard let count = Int64(last), count >= 0 else {
                self = .whole
                return
            }
            guard count > 0, size > 0 else {
                self = .unsatisfiable
                return
            }
            self = .part(lower: max(0, size - count), upper: size - 1)
            return
        }
        guard let lower = Int64(first), lower >= 0 else {
            self = .whole
            return
        }
        var upper = size - 1
        if !last.isEmpty {
            guard let value = Int64(last), value >= lower else {
                self = .whole
                return
            }
            upper = min(value, size - 1)
        }
        self = lower < size ? .part(lower: lower, upper: upper) : .unsatisfiable
    }
}
