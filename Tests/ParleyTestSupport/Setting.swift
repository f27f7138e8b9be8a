import ParleyServer

/// One change to the test server's configuration, e.g. `.set(\.ratePerSecond, 0)`.
public struct Setting {
    public let apply: (inout ServerConfiguration) -> Void

    public static func set<Value>(_ keyPath: WritableKeyPath<ServerConfiguration, Value>, _ value: Value) -> Setting {
        Setting { $0[keyPath: keyPath] = value }
    }
}
