/// How a model's tensors appear in the checkpoints of its official code: what `mamfusion export`
/// writes and `Launch/convert-reference-checkpoint` reads back (issue 21).
///
/// Every model keeps its tensors under the official `state_dict` names and in PyTorch's shapes
/// (PARAMETERS.md, MUSE.md §4), so the map from our tensors to the official keys is the identity
/// wherever a key exists; what differs between models is how the official code saves its
/// `state_dict` and which of our tensors it has no key for (`extras`: MUSE's frozen pyramid).
public struct ReferenceFormat: Sendable {
    /// How the official code wraps its `state_dict` in a PyTorch file.
    public enum Container: String, Sendable {
        /// `torch.save({"model": state_dict, …})`, loaded with `torch.load(f)["model"]` (MS-SL,
        /// GMMFormer, MamFusion).
        case modelKey
        /// `torch.save(model.state_dict())`, loaded with `torch.load(f)` (CLIP4Clip and MUSE's
        /// `pytorch_model.bin.<epoch>`).
        case bareStateDict
    }

    public let container: Container
    /// The name prefixes of our tensors that have no key in the official `state_dict`; they are
    /// exported after the official ones, under the names given, and left out by
    /// `export --official-only`.
    public let extraPrefixes: [String]
    /// What the extras are, for the export's metadata (`extra_tensors`); nil when there are none.
    public let extrasNote: String?

    public init(container: Container, extraPrefixes: [String] = [], extrasNote: String? = nil) {
        self.container = container
        self.extraPrefixes = extraPrefixes
        self.extrasNote = extrasNote
    }

    /// The PRVR models (MS-SL style): every tensor has its official key, saved under "model".
    public static let prvr = ReferenceFormat(container: .modelKey)

    /// Whether tensor `name` has no key in the official `state_dict`.
    public func isExtra(_ name: String) -> Bool { extraPrefixes.contains { name.hasPrefix($0) } }
}
