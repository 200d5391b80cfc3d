/// How a parameter tensor is initialised and regularised (MODEL.md §5, §6).
public enum ParameterKind: String, Sendable, Codable {
    /// Linear weight (out×in) ~ N(0, 0.02); weight decay applies.
    case linearWeight
    /// Linear bias = 0; no weight decay (name contains "bias").
    case linearBias
    /// Embedding table ~ N(0, 0.02).
    case embedding
    /// LayerNorm weight = 1; no weight decay.
    case layerNormWeight
    /// LayerNorm bias = 0; no weight decay.
    case layerNormBias
    /// Mamba depthwise conv1d weight / bias ~ U(−0.5, 0.5) (PyTorch default for fan-in 4).
    case convolutionWeight, convolutionBias
    /// Mamba A_log[c, n] = log(n + 1).
    case stateLogDecay
    /// Mamba D = 1.
    case skipScale
    /// Fusion packed in-projection weight ~ xavier-uniform; its bias = 0.
    case attentionInProjectionWeight, attentionInProjectionBias
    /// A 2-D convolution's (or transposed convolution's) weight and bias with PyTorch's default
    /// init U(±1/√fan_in), fan_in = size(1)·k² of the weight (the bias uses its weight's): MUSE's
    /// token pyramid.
    case convolution2DWeight, convolution2DBias
    /// The reference's unused `vid_embed_proj` Conv2d: kept in checkpoints, never computed with,
    /// never updated (MODEL.md §2).
    case unusedWeight, unusedBias

    /// Whether BertAdam skips this tensor (it never gets a gradient).
    public var isUnused: Bool { self == .unusedWeight || self == .unusedBias }
}

/// Which part of a model a tensor belongs to: the unit in which backward finishes gradients
/// (DISTRIBUTED.md §4). A model lists its groups in the order its backward makes them final
/// (`ParameterLayout.groups`: the flat buffer is laid out in that order, so the first bucket to
/// fill is the first in the buffer, as PyTorch's DDP lays out buckets in reverse parameter
/// order) and declares each one final as soon as backward has produced all of its gradients; the
/// gradient all-reduce of that group starts then. Names are the model's own (the PRVR models:
/// `query`, `clip`, `frame`, and MamFusion's `fusion`); run records name groups by them.
public struct ParameterGroup: Hashable, Sendable, RawRepresentable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    /// Tensors that never get a gradient (kept in checkpoints, never reduced, never updated,
    /// e.g. the reference's unused `vid_embed_proj`): laid out after every other group.
    public static let unused: ParameterGroup = "unused"
}

/// One named tensor of the model: its reference name, PyTorch shape, group and place in the flat
/// buffer.
public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let kind: ParameterKind
    public let group: ParameterGroup
    /// Offset (in floats) of the first element in the flat parameter buffer.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var shapeDescription: String { shape.map(String.init).joined(separator: "x") }
}

/// The complete list of a model's parameter tensors for one configuration, laid out in one
/// flat buffer (llm.c style): gradients and the optimiser's moments are buffers of the same
/// layout, so the gradient all-reduce is a loop over slices of one buffer and a checkpoint is a
/// loop over names.
///
/// `specs` lists the tensors in the model's checkpoint order with its names (for the PRVR models
/// the reference `state_dict` order, PARAMETERS.md) — what checkpoints and `model-info` show.
/// The flat buffer is laid out in *backward* order instead: group by group in `groups`, so each
/// group is one contiguous range (`range(of:)`) that the gradient all-reduce can send as soon as
/// backward has finished it. Every tensor starts at a multiple of 16 floats (64 bytes) so
/// kernels see aligned rows.
public struct ParameterLayout: Sendable {
    /// The model whose tensors these are (its `TrainableModel.name`; checkpoints record it).
    public let model: String
    public let specs: [ParameterSpec]
    /// The groups in the order backward makes them final (the flat buffer's order), `unused`
    /// last when the model has such tensors.
    public let groups: [ParameterGroup]
    /// Floats in the flat buffer, alignment padding included.
    public let bufferCount: Int
    private let index: [String: Int]
    private let groupRanges: [ParameterGroup: Range<Int>]

    public static let alignment = 16

    /// One tensor as a model declares it: reference name, PyTorch shape, kind, group.
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let kind: ParameterKind
        public let group: ParameterGroup
    }

    /// The layout of `entries` (checkpoint order) with the buffer in `groups` order (backward
    /// order; `unused` is placed last whether listed or not). Every entry's group must be listed.
    public init(model: String, groups backwardOrder: [ParameterGroup], entries: [Entry]) {
        self.model = model
        var order = backwardOrder.filter { $0 != .unused }
        if entries.contains(where: { $0.group == .unused }) { order.append(.unused) }
        for entry in entries {
            precondition(order.contains(entry.group), "\(model): tensor \(entry.name) is in group \(entry.group), which the model does not list")
        }
        var offsets = [Int](repeating: 0, count: entries.count)
        var ranges: [ParameterGroup: Range<Int>] = [:]
        var offset = 0
        for group in order {
            let start = offset
            for (i, entry) in entries.enumerated() where entry.group == group {
                offsets[i] = offset
                let n = entry.shape.reduce(1, *)
                offset += (n + Self.alignment - 1) / Self.alignment * Self.alignment
            }
            ranges[group] = start..<offset
        }
        specs = entries.enumerated().map { i, e in ParameterSpec(name: e.name, shape: e.shape, kind: e.kind, group: e.group, offset: offsets[i]) }
        groups = order
        bufferCount = offset
        groupRanges = ranges
        var index: [String: Int] = [:]
        for (i, s) in specs.enumerated() {
            precondition(index[s.name] == nil, "duplicate parameter name \(s.name)")
            index[s.name] = i
        }
        self.index = index
    }

    /// The floats of `group` in the flat buffer (empty for a group the model does not have).
    public func range(of group: ParameterGroup) -> Range<Int> { groupRanges[group] ?? 0..<0 }

    /// The groups whose gradients are summed across ranks (every group but `unused`), in
    /// backward order.
    public var reducedGroups: [ParameterGroup] { groups.filter { $0 != .unused } }

    /// Number of parameter values (padding excluded) — 18,372,480 for MamFusion on TVR.
    public var parameterCount: Int { specs.reduce(0) { $0 + $1.count } }

    public func spec(named name: String) -> ParameterSpec? { index[name].map { specs[$0] } }

    /// The spec with this name; a programming error if absent (layer code asks for its own names).
    public subscript(name: String) -> ParameterSpec {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return specs[i]
    }

    /// Declares a model's tensors in checkpoint order (llm.c's `fill_in_parameter_sizes`): the
    /// common shapes by the names the reference gives their parts, each tensor in the current
    /// `group`.
    public struct Builder {
        public var group: ParameterGroup
        public private(set) var entries: [Entry] = []

        public init(group: ParameterGroup) { self.group = group }

        public mutating func tensor(_ name: String, _ shape: [Int], _ kind: ParameterKind) {
            entries.append(Entry(name: name, shape: shape, kind: kind, group: group))
        }

        /// `<name>.weight` (out × in) and, with `bias`, `<name>.bias` (out).
        public mutating func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true) {
            tensor("\(name).weight", [out, inFeatures], .linearWeight)
            if bias { tensor("\(name).bias", [out], .linearBias) }
        }

        /// `<name>.weight` and `<name>.bias` of a LayerNorm over n features.
        public mutating func layerNorm(_ name: String, _ n: Int) {
            tensor("\(name).weight", [n], .layerNormWeight)
            tensor("\(name).bias", [n], .layerNormBias)
        }

        /// The layout of the declared tensors, the buffer in `groups` order.
        public func layout(model: String, groups: [ParameterGroup]) -> ParameterLayout {
            ParameterLayout(model: model, groups: groups, entries: entries)
        }
    }
}

extension RunConfiguration {
    /// The parameter layout of this configuration's model and sizes.
    public var parameterLayout: ParameterLayout { modelType.layout(self) }
}
