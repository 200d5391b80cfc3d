/// A problem with a dataset on disk, reported the way a user can act on it: the file, the item
/// in it (a video, frame, caption or dataset id), the line where there is one, and what is wrong.
///
/// Every check on user-controlled input in this module throws one of these (or an `HDF5Error`
/// wrapped into one); nothing traps on file content.
public struct FeatureDataError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or directory) the problem is in.
    public let file: String
    /// The offending item — e.g. `video 'v12'`, `frame 'v12_3'`, `caption 'v12#enc#0'` — or nil
    /// when the problem concerns the file as a whole.
    public let item: String?
    /// 1-based line number in a text file, when there is one.
    public let line: Int?
    /// What is wrong, in words.
    public let problem: String

    public init(file: String, item: String? = nil, line: Int? = nil, _ problem: String) {
        self.file = file
        self.item = item
        self.line = line
        self.problem = problem
    }

    /// `file:line: item: problem` (parts that are absent are left out).
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let item { text += "\(item): " }
        return text + problem
    }
}

extension FeatureDataError {
    /// Wraps any error thrown while working on `file` (e.g. an `HDF5Error`), keeping its text.
    static func wrapping(_ error: any Error, file: String, item: String? = nil) -> FeatureDataError {
        if let own = error as? FeatureDataError { return own }
        return FeatureDataError(file: file, item: item, "\(error)")
    }
}

/// Runs `body`, turning any error that is not already a `FeatureDataError` into one naming
/// `file` and `item`.
@inline(__always) @discardableResult
func withFileContext<R>(_ file: String, item: @autoclosure () -> String? = nil, _ body: () throws -> R) throws -> R {
    do {
        return try body()
    } catch let error as FeatureDataError {
        throw error
    } catch {
        throw FeatureDataError.wrapping(error, file: file, item: item())
    }
}
