/// The weighted terms of one batch's loss, in the order the model's head reports them (for the
/// PRVR models MODEL.md §4: `clip_nce`, `clip_trip`, `frame_nce`, `frame_trip`, `qdl`); `total`
/// is their sum, the loss that backward differentiates. Each value already carries its weight.
/// Names are record field names (`metrics.jsonl`, TensorBoard `train/<name>`).
public struct LossTerms: Sendable, Equatable {
    public struct Term: Sendable, Equatable {
        public let name: String
        public var value: Double
        public init(_ name: String, _ value: Double) {
            self.name = name
            self.value = value
        }
    }

    public var terms: [Term]

    public init(_ terms: [Term] = []) { self.terms = terms }

    /// L = the sum of the weighted terms.
    public var total: Double { terms.reduce(0) { $0 + $1.value } }

    /// The term called `name`, if the head reports one.
    public subscript(name: String) -> Double? { terms.first { $0.name == name }?.value }

    /// (name, value) pairs in the head's order, for log lines and records.
    public var named: [(name: String, value: Double)] { terms.map { ($0.name, $0.value) } }
}
