import ParleyProtocol

extension ServerConfiguration {
    /// The limits every client learns from `welcome.limits`.
    public var clientLimits: Limits {
        Limits(maxMessageBytes: maxMessageBytes, maxFileBytes: maxFileBytes, rateBurst: rateBurst, ratePerSecond: ratePerSecond)
    }
}
