import Hummingbird
import ParleyProtocol

extension ConnectRequest {
    /// Reads the query as Hummingbird parsed it from the request target.
    init(query: Parameters) throws(ProtocolError) {
        try self.init(parameter: { query[$0] })
    }
}
