/// What one validation reports (rank 0 writes it to `metrics.jsonl`, `"type": "validation"`, and
/// as TensorBoard scalars `validation/<key>`): the fixed `fields`, and the evaluator's metrics by
/// their names (`r1` … `r100`, `median_rank`, `mean_rank` for PRVR; `t2v_r1` …, `v2t_…` for
/// text–video retrieval).
public struct ValidationRecord: Sendable, Equatable {
    public var step = 0, epoch = 0
    public var sumR = 0.0, bestSumR = 0.0
    /// The evaluator's metrics, by name, in the order it gave them.
    public var metrics: [(name: String, value: Double)] = []

    public init() {}

    public static let fields: [RecordField<ValidationRecord>] = [
        .int("step", "the global step the model was validated at", \.step),
        .int("epoch", "the 0-based epoch that just ended", \.epoch),
        .double("sumr", "SumR, the model-selection score", \.sumR),
        .double("best_sumr", "the best SumR so far", \.bestSumR),
    ]

    /// The keys besides `fields`: each metric's name.
    public static let dynamicKeys = ["<metric>"]

    /// The metric called `name`, if the evaluator reported one.
    public subscript(name: String) -> Double? { metrics.first { $0.name == name }?.value }

    var values: [(key: String, value: RecordValue)] {
        Self.fields.map { ($0.key, $0.write(self)) } + metrics.map { ($0.name, .double($0.value)) }
    }

    init(values: [String: RecordValue]) {
        for field in Self.fields { if let value = values[field.key] { field.read(&self, value) } }
        let fixed = Set(Self.fields.map(\.key) + ["type"])
        metrics = values.keys.sorted().filter { !fixed.contains($0) }.compactMap { key in values[key]?.number.map { (key, $0) } }
    }

    public static func == (a: ValidationRecord, b: ValidationRecord) -> Bool {
        a.step == b.step && a.epoch == b.epoch && a.sumR == b.sumR && a.bestSumR == b.bestSumR
            && a.metrics.map(\.name) == b.metrics.map(\.name) && a.metrics.map(\.value) == b.metrics.map(\.value)
    }
}
