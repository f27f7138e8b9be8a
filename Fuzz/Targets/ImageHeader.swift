@testable import ParleyServer

/// The first bytes of an uploaded file.
///
/// `ImageHeader.size` never traps, whatever the bytes (cut-short headers, JPEG segment lengths that point past
/// the end or loop, absurd dimensions), and a size it reports is positive and fits what the format can say.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageHeader(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: count)
    guard let (width, height) = ImageHeader.size(of: bytes) else { return 0 }
    require(width > 0 && height > 0, "size \(width)×\(height)")
    require(width <= 0xFFFF_FFFF && height <= 0xFFFF_FFFF, "size \(width)×\(height) beyond 32 bits")
    // What is reported comes from a prefix: more bytes after it never change it.
    if count <= 64 {
        let longer = Array(bytes) + Array(repeating: 0xFF, count: 64)
        let again = ImageHeader.size(of: longer)
        require(again?.width == width && again?.height == height, "extra bytes changed \(width)×\(height)")
    }
    return 0
}
