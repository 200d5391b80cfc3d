/// Bytes and seconds spent by a loader, for MB/s reports.
public struct LoaderStatistics: Sendable, Equatable {
    public var loads = 0
    public var bytesRead = 0
    /// Seconds inside the backend's reads.
    public var readSeconds = 0.0
    /// Seconds in preprocessing (resampling, normalisation, finiteness checks).
    public var preprocessSeconds = 0.0

    public init() {}

    /// Read throughput in MB/s (10^6 bytes per second of reading).
    public var readMegabytesPerSecond: Double { readSeconds > 0 ? Double(bytesRead) / readSeconds / 1e6 : 0 }
    /// End-to-end throughput (read + preprocess) in MB/s of stored features.
    public var totalMegabytesPerSecond: Double {
        let t = readSeconds + preprocessSeconds
        return t > 0 ? Double(bytesRead) / t / 1e6 : 0
    }

    public static func + (a: LoaderStatistics, b: LoaderStatistics) -> LoaderStatistics {
        var s = a
        s.loads += b.loads
        s.bytesRead += b.bytesRead
        s.readSeconds += b.readSeconds
        s.preprocessSeconds += b.preprocessSeconds
        return s
    }
}
