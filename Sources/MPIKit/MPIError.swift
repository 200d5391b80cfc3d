/// A failed MPI call: which call, on which rank, with MPI's own error text.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public let rank: Int
    public let message: String

    public init(call: String, code: Int32, rank: Int, message: String) {
        self.call = call
        self.code = code
        self.rank = rank
        self.message = message
    }

    public var description: String { "rank \(rank): \(call) failed (code \(code)): \(message)" }
}
