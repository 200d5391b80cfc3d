import MamFusion

/// What one training step reports (rank 0 writes it to `metrics.jsonl`, `"type": "step"`, and as
/// TensorBoard scalars `train/<key>`): the one definition of the step record's fields, which the
/// trainer fills, `plot` and `bench train` read back, and the README lists (a test checks it).
///
/// Fixed fields are `fields`; besides them a record holds each loss term by its name
/// (`LossTerms`, e.g. `clip_nce`; `loss_terms` lists the names) and, for each parameter group, the
/// seconds of backward left when its all-reduce started (`allreduce_lead_<group>_s`).
public struct StepRecord: Sendable, Equatable {
    public var step = 0, epoch = 0, batch = 0
    public var videos = 0, queries = 0
    public var loss = 0.0
    public var terms = LossTerms()
    public var learningRate = 0.0
    public var seconds = 0.0, compute = 0.0, communication = 0.0, wait = 0.0
    public var allreduceInFlight = 0.0
    public var head = 0.0, headMaxRank = 0.0, headCommunication = 0.0
    public var reencode = 0.0
    public var computeMaxRank = 0.0, computeMinRank = 0.0
    public var microBatch = 0
    public var peakResidentBytesMaxRank = 0
    public var gatherBytes = 0, headReductionBytes = 0, gradientBytes = 0, bytesSent = 0
    public var flops = 0.0
    public var groupLead: [ParameterGroup: Double] = [:]

    public init() {}

    /// The fixed fields, in the order the README lists them.
    public static let fields: [RecordField<StepRecord>] = [
        .int("step", "the global step (optimiser updates applied so far, this one included)", \.step),
        .int("epoch", "the 0-based epoch", \.epoch),
        .int("batch", "the batch's place in its epoch", \.batch),
        .int("videos", "videos (or pairs) in the global batch", \.videos),
        .int("queries", "queries in the global batch", \.queries),
        .double("loss", "the loss, the sum of the weighted terms", \.loss),
        .double("lr", "the learning rate of the next update (BertAdam's schedule after this step)", \.learningRate),
        .double("seconds", "the step's wall time on rank 0", \.seconds),
        .double("compute_s", "rank 0's compute: encoding, loss head, backward", \.compute),
        .double("communication_s", "rank 0's time in the head's collectives and starting and finishing the all-reduce", \.communication),
        .double("wait_s", "rank 0's wait for the gradient all-reduce after backward", \.wait),
        .double("allreduce_in_flight_s", "from the first gradient bucket's start to the end of the all-reduce", \.allreduceInFlight),
        .double("head_s", "rank 0's loss-head compute (its collectives excluded)", \.head),
        .double("head_s_max_rank", "the slowest rank's loss-head compute", \.headMaxRank),
        .double("head_communication_s", "rank 0's time in the head's collectives", \.headCommunication),
        .double("reencode_s", "encoding micro-batches a second time (0 without micro-batches)", \.reencode),
        .double("compute_s_max_rank", "the slowest rank's compute", \.computeMaxRank),
        .double("compute_s_min_rank", "the fastest rank's compute", \.computeMinRank),
        .int("micro_batch", "videos per rank per encoder pass (0: the whole share)", \.microBatch),
        .int("peak_rss_bytes_max_rank", "the largest peak resident memory of any rank", \.peakResidentBytesMaxRank),
        .int("gather_bytes", "bytes rank 0 sent in the head's gathers and reduce-scatters (ring model)", \.gatherBytes),
        .int("head_reduction_bytes", "bytes rank 0 sent in the head's small reductions", \.headReductionBytes),
        .int("gradient_bytes", "bytes rank 0 sent in the gradient all-reduce", \.gradientBytes),
        .int("bytes_sent", "all of rank 0's bytes sent", \.bytesSent),
        .double("flops", "useful FLOPs of the step: every rank's encoders and the head over the global batch", \.flops),
    ]

    /// The keys of the fields that are not in `fields`: each loss term's name, the list of them,
    /// and each group's all-reduce lead (as the README lists them).
    public static let dynamicKeys = ["<term>", "loss_terms", "allreduce_lead_<group>_s"]

    static let termListKey = "loss_terms", leadPrefix = "allreduce_lead_", leadSuffix = "_s"

    /// The record as (key, value) pairs: the fixed fields, the terms and their list, the leads.
    var values: [(key: String, value: RecordValue)] {
        Self.fields.map { ($0.key, $0.write(self)) }
            + terms.terms.map { ($0.name, .double($0.value)) }
            + [(Self.termListKey, .string(terms.terms.map(\.name).joined(separator: ",")))]
            + groupLead.map { ("\(Self.leadPrefix)\($0.key)\(Self.leadSuffix)", .double($0.value)) }
    }

    /// A record read back from its fields. Older files without `loss_terms` name the PRVR terms.
    init(values: [String: RecordValue]) {
        for field in Self.fields { if let value = values[field.key] { field.read(&self, value) } }
        let names: [String]
        if case .string(let list)? = values[Self.termListKey] {
            names = list.split(separator: ",").map(String.init)
        } else {
            names = PRVRLossTerms.names.filter { values[$0] != nil }
        }
        terms = LossTerms(names.compactMap { name in values[name]?.number.map { LossTerms.Term(name, $0) } })
        for (key, value) in values where key.hasPrefix(Self.leadPrefix) && key.hasSuffix(Self.leadSuffix) {
            guard let seconds = value.number else { continue }
            groupLead[ParameterGroup(rawValue: String(key.dropFirst(Self.leadPrefix.count).dropLast(Self.leadSuffix.count)))] = seconds
        }
    }
}
