/// A problem with a user's input file, found before or while reading it: the file, the line
/// when there is one, and what is wrong. Modules that read text (FeatureData, the run
/// configuration) turn it into their own error type, keeping these three parts.
public struct InputFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// 1-based line number, when the problem is on a line.
    public let line: Int?
    public let problem: String

    public init(file: String, line: Int? = nil, _ problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    /// `file:line: problem`.
    public var description: String { file + (line.map { ":\($0)" } ?? "") + ": " + problem }
}
