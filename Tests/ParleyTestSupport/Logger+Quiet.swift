import Logging

extension Logger {
    /// Tests keep their output for failures.
    public static let quiet: Logger = {
        var logger = Logger(label: "parley-test")
        logger.logLevel = .critical
        return logger
    }()
}
