/// A report that checks deliveries (storm, failover): it prints as text, and says whether the server got
/// anything wrong and whether the run settled.
public protocol CheckedReport: Encodable, Sendable {
    var text: String { get }
    /// Wrong ids, lost nicks, messages stored twice or members left behind: the server's faults.
    var hasFaults: Bool { get }
    /// No fault, and everything the run waited for happened.
    var isClean: Bool { get }
}

extension StormReport: CheckedReport {}
extension FailoverReport: CheckedReport {}
