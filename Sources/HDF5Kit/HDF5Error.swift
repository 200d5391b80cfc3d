/// A failed HDF5 call: which call, on which object (file and path), on which rank, with the
/// innermost messages of HDF5's error stack.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let object: String
    public let rank: Int
    public let message: String

    public init(call: String, object: String, rank: Int, message: String) {
        self.call = call
        self.object = object
        self.rank = rank
        self.message = message
    }

    public var description: String {
        "rank \(rank): \(call) failed on \(object)" + (message.isEmpty ? "" : ": \(message)")
    }
}
