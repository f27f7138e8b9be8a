import Testing

@testable import ParleyServer

@Suite struct ImageHeaderTests {
    static func big16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    static func big32(_ value: Int) -> [UInt8] { big16(value >> 16) + big16(value) }
    static func little16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
    static func little24(_ value: Int) -> [UInt8] { little16(value) + [UInt8(value >> 16 & 0xFF)] }
    static func little32(_ value: Int) -> [UInt8] { little16(value) + little16(value >> 16) }

    static func png(_ width: Int, _ height: Int) -> [UInt8] {
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + big32(13) + Array("IHDR".utf8) + big32(width) + big32(height) + [8, 6, 0, 0, 0]
    }

    static func jpeg(_ width: Int, _ height: Int, frame: UInt8 = 0xC0, before: [UInt8] = []) -> [UInt8] {
        let app0: [UInt8] = [0xFF, 0xE0] + big16(16) + Array("JFIF".utf8) + [0] + Array(repeating: 0, count: 9)
        let sof: [UInt8] = [0xFF, frame] + big16(17) + [8] + big16(height) + big16(width) + [3] + Array(repeating: 0, count: 9)
        return [0xFF, 0xD8] + app0 + before + sof
    }

    static func webP(_ chunk: String, _ data: [UInt8]) -> [UInt8] {
        Array("RIFF".utf8) + little32(4 + 8 + data.count) + Array("WEBP".utf8) + Array(chunk.utf8) + little32(data.count) + data
    }

    @Test func readsEachFormat() {
        #expect(ImageHeader.size(of: Self.png(640, 480)) ?? (0, 0) == (640, 480))
        #expect(ImageHeader.size(of: Array("GIF89a".utf8) + Self.little16(32) + Self.little16(16) + [0]) ?? (0, 0) == (32, 16))
        #expect(ImageHeader.size(of: Array("GIF87a".utf8) + Self.little16(1) + Self.little16(2)) ?? (0, 0) == (1, 2))
        #expect(ImageHeader.size(of: Self.jpeg(300, 200)) ?? (0, 0) == (300, 200))
        // Progressive, with a Huffman table (C4, not a frame) and fill bytes before the frame header.
        let table: [UInt8] = [0xFF, 0xC4] + Self.big16(4) + [0, 0]
        #expect(ImageHeader.size(of: Self.jpeg(1920, 1080, frame: 0xC2, before: table + [0xFF, 0xFF])) ?? (0, 0) == (1920, 1080))
        let lossy = Self.webP("VP8 ", [0, 0, 0, 0x9D, 0x01, 0x2A] + Self.little16(50) + Self.little16(60))
        #expect(ImageHeader.size(of: lossy) ?? (0, 0) == (50, 60))
        // Scale bits above the 14 bits of size are ignored.
        let scaled = Self.webP("VP8 ", [0, 0, 0, 0x9D, 0x01, 0x2A] + Self.little16(0xC000 | 50) + Self.little16(0x4000 | 60))
        #expect(ImageHeader.size(of: scaled) ?? (0, 0) == (50, 60))
        let lossless = Self.webP("VP8L", [0x2F] + Self.little32(49 | 59 << 14))
        #expect(ImageHeader.size(of: lossless) ?? (0, 0) == (50, 60))
        let extended = Self.webP("VP8X", [0, 0, 0, 0] + Self.little24(999) + Self.little24(1999))
        #expect(ImageHeader.size(of: extended) ?? (0, 0) == (1000, 2000))
    }

    @Test func refusesWhatItCannotRead() {
        let unreadable: [[UInt8]] = [
            [],
            Array("not an image".utf8),
            Array(Self.png(640, 480).prefix(20)),
            Self.png(0, 480),
            Array("GIF89a".utf8) + [1],
            Array(Self.jpeg(300, 200).prefix(27)),
            // A start of scan before any frame header, and a segment length below 2.
            [0xFF, 0xD8, 0xFF, 0xDA, 0, 2],
            [0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0xFF, 0xC0],
            [0xFF, 0xD8, 0x00, 0x00],
            Self.webP("VP8 ", [0, 0, 0, 0, 0, 0, 1, 0, 1, 0]),
            Self.webP("VP8L", [0x00, 0, 0, 0, 0]),
            Self.webP("VP8X", [0, 0, 0]),
            Self.webP("ALPH", Array(repeating: 1, count: 10)),
        ]
        for bytes in unreadable {
            #expect(ImageHeader.size(of: bytes) == nil, "\(bytes)")
        }
    }
}
