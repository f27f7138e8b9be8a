@testable import ParleyServer

/// The head of a request as it arrives on a new socket, cut into two reads at a point the input chooses.
///
/// `UpgradeRequest.scan` never traps or reads outside the bytes it is given (AddressSanitizer watches the
/// unsafe buffer reads); a head it accepts ends with its first blank line, is `GET /ws` with a key, and keeps
/// only the admission's fields; every shorter prefix of an accepted head waits for more; and a scan that goes
/// on from where the first read stopped decides as a scan of the whole.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUpgradeRequest(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let cut = Int(start[0]) * (count - 1) / 255
    // A copy of exactly the bytes scanned, so that a read past them is a heap overflow ASan reports.
    let bytes = Array(UnsafeBufferPointer(start: start + 1, count: count - 1))
    let whole = scanned(bytes, from: 0)
    let first = scanned(Array(bytes.prefix(cut)), from: 0)
    if case .incomplete = first {
        let resumed = scanned(bytes, from: cut)
        require(same(resumed, whole), "resumed at \(cut): \(resumed) against \(whole)")
    }
    guard case .upgrade(let request) = whole else { return 0 }
    let head = bytes.prefix(request.length)
    require(head.count == request.length && head.suffix(4).elementsEqual([13, 10, 13, 10]), "no blank line at \(request.length)")
    require(!head.indices.dropLast(4).contains { head[$0...].prefix(4).elementsEqual([13, 10, 13, 10]) }, "an earlier blank line")
    require(request.target == "/ws" || request.target.hasPrefix("/ws?"), "target \(request.target)")
    require(!request.key.isEmpty, "no key")
    let kept = Set(UpgradeRequest.admissionFields.map(\.description))
    require(request.fields.allSatisfy { kept.contains($0.name) }, "kept \(request.fields.map(\.name))")
    for length in stride(from: 1, to: request.length, by: max(1, request.length / 64)) {
        guard case .incomplete = scanned(Array(bytes.prefix(length)), from: 0) else {
            fatalError("a prefix of \(length) bytes of an accepted head was decided")
        }
    }
    return 0
}

private func scanned(_ bytes: [UInt8], from start: Int) -> UpgradeRequest.Scan {
    bytes.withUnsafeBytes { UpgradeRequest.scan($0, scanned: start) }
}

private func same(_ one: UpgradeRequest.Scan, _ other: UpgradeRequest.Scan) -> Bool {
    switch (one, other) {
    case (.incomplete, .incomplete), (.other, .other): true
    case (.upgrade(let a), .upgrade(let b)): a.length == b.length && a.target == b.target && a.key == b.key
    default: false
    }
}
