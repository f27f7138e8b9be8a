import NIOCore
import ParleyProtocol

/// Entry points into internal hot paths for the micro benchmarks in `Benchmarks/`.
///
/// The benchmarks are a separate package, so neither the server nor CI builds the benchmark library. They
/// reach internal types only through `@_spi(Benchmarks)` declarations in this folder, which an ordinary
/// `import ParleyServer` does not see. Nothing here is used by the server itself.
@_spi(Benchmarks)
public enum BenchmarkHooks {
    /// `EventEncoder.encode`: one server event to the bytes every member of a room receives.
    public static func encode(_ event: ServerEvent) -> ByteBuffer {
        EventEncoder.encode(event)
    }
}
