/// Width and height from the first bytes of a PNG, JPEG, GIF or WebP file, read from its header without decoding
/// it (§14). Anything it does not recognise, or a header cut short, gives nil.
enum ImageHeader {
    /// How many leading bytes the reader needs at most: a JPEG's frame header may follow large metadata segments.
    static let prefixBytes = 256 * 1024

    static func size(of bytes: some RandomAccessCollection<UInt8>) -> (width: Int, height: Int)? {
        let bytes = Array(bytes.prefix(prefixBytes))
        let size: (Int, Int)?
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            size = png(bytes)
        } else if bytes.starts(with: Array("GIF87a".utf8)) || bytes.starts(with: Array("GIF89a".utf8)) {
            size = bytes.count >= 10 ? (little16(bytes, 6), little16(bytes, 8)) : nil
        } else if bytes.starts(with: [0xFF, 0xD8]) {
            size = jpeg(bytes)
        } else if bytes.count >= 16, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) {
            size = webP(bytes)
        } else {
            size = nil
        }
        guard let (width, height) = size, width > 0, height > 0 else { return nil }
        return (width, height)
    }

    /// The IHDR chunk comes first: width and height big-endian at 16 and 20.
    private static func png(_ bytes: [UInt8]) -> (Int, Int)? {
        guard bytes.count >= 24, Array(bytes[12..<16]) == Array("IHDR".utf8) else { return nil }
        return (big32(bytes, 16), big32(bytes, 20))
    }

    /// Walks the marker segments up to the first start-of-frame (SOF0–SOF15 except DHT, JPG and DAC).
    private static func jpeg(_ bytes: [UInt8]) -> (Int, Int)? {
        var index = 2
        while index + 1 < bytes.count {
            guard bytes[index] == 0xFF else { return nil }
            let marker = bytes[index + 1]
            if marker == 0xFF {
                // Fill byte before a marker.
                index += 1
                continue
            }
            // Markers without a length: TEM, RST0–7, SOI.
            if marker == 0x01 || (0xD0...0xD8).contains(marker) {
                index += 2
                continue
            }
            if marker == 0xD9 || marker == 0xDA { return nil }
            guard index + 3 < bytes.count else { return nil }
            let length = big16(bytes, index + 2)
            guard length >= 2 else { return nil }
            if (0xC0...0xCF).contains(marker), marker != 0xC4, marker != 0xC8, marker != 0xCC {
                guard index + 8 < bytes.count else { return nil }
                return (big16(bytes, index + 7), big16(bytes, index + 5))
            }
            index += 2 + length
        }
        return nil
    }

    /// The first chunk after `WEBP` says which format: lossy (`VP8 `), lossless (`VP8L`) or extended (`VP8X`).
    private static func webP(_ bytes: [UInt8]) -> (Int, Int)? {
        let chunk = Array(bytes[12..<16])
        let data = 20
        if chunk == Array("VP8 ".utf8) {
            // A key frame: 3 bytes of frame tag, the start code 9D 01 2A, then 14-bit width and height.
            guard bytes.count >= data + 10, bytes[data + 3] == 0x9D, bytes[data + 4] == 0x01, bytes[data + 5] == 0x2A else { return nil }
            return (little16(bytes, data + 6) & 0x3FFF, little16(bytes, data + 8) & 0x3FFF)
        }
        if chunk == Array("VP8L".utf8) {
            // The signature 2F, then width − 1 and height − 1 in 14 bits each, least significant bit first.
            guard bytes.count >= data + 5, bytes[data] == 0x2F else { return nil }
            let bits = Int(bytes[data + 1]) | Int(bytes[data + 2]) << 8 | Int(bytes[data + 3]) << 16 | Int(bytes[data + 4]) << 24
            return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        if chunk == Array("VP8X".utf8) {
            // Flags and reserved bytes, then the canvas width − 1 and height − 1 in 24 bits each, little-endian.
            guard bytes.count >= data + 10 else { return nil }
            return (little24(bytes, data + 4) + 1, little24(bytes, data + 7) + 1)
        }
        return nil
    }

    private static func big16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
    private static func big32(_ bytes: [UInt8], _ at: Int) -> Int { big16(bytes, at) << 16 | big16(bytes, at + 2) }
    private static func little16(_ bytes: [UInt8], _ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    private static func little24(_ bytes: [UInt8], _ at: Int) -> Int { little16(bytes, at) | Int(bytes[at + 2]) << 16 }
}
