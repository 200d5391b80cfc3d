@testable import MamFusion
import MPIKit
import TensorKit
import TestSupport
import Testing
@testable import Training

/// The training step under every matrix engine and precision (MATMUL.md): the whole model's
/// backward against finite differences with either engine in fp32; in bf16, against the fp32
/// gradient (layer by layer against finite differences of the fp32 twin: LayerGradientTests);
/// micro-batches in bf16.
///
/// The fixture is larger than `StepGradientTests`' so that most products have the 16 rows and
/// columns oneDNN's kernels need (oneDNN runs every such product here: `withEngine`).
struct EngineStepTests {
    static func configuration(_ model: String) -> RunConfiguration {
        var c = tinyConfiguration()
        c.model = model
        c.hardPoolSize = 2
        return c
    }

    static func fixture(_ c: RunConfiguration) -> StepFixture {
        StepFixture(c, frames: [12, 11, 10, 9], captions: [2, 1, 3, 2], tokens: 4...7, seed: 45)
    }

    /// One step's gradient under `selection` (dropout on, hard negatives), and whether oneDNN's
    /// kernels ran some of it.
    static func gradient(_ c: RunConfiguration, _ p: ParameterSet, _ fixture: StepFixture, _ selection: MatrixEngineSelection,
                         microBatch: Int = 0, epoch: Int = 25) throws -> (gradient: [Float], step: DistributedStep, oneDNN: Bool) {
        let step = DistributedStep(model: c.makeModel(parameters: p), world: LocalWorld(), bucketBytes: 1 << 16)
        let result = try withEngine(selection) {
            MatrixEngine.resetStatistics()
            let r = try step.run(fixture.plan(microBatch: microBatch), inputs: fixture.inputs, videoNames: { "v\($0)" },
                                 key: Self.key(epoch: epoch))
            return (r, MatrixEngine.statistics.oneDNNMultiplyAdds > 0)
        }
        #expect(result.0.terms.total.isFinite && result.0.nonFinite == nil)
        return (Array(step.model.gradients.storage.buffer), step, result.1)
    }

    static func key(epoch: Int = 25) -> StepKey { StepKey(seed: 5, step: 9, epoch: epoch, dropoutEnabled: true) }

    static func loss(_ step: DistributedStep, _ fixture: StepFixture) -> Double {
        (try? step.loss(fixture.plan(), inputs: fixture.inputs, key: key()).total) ?? .nan
    }

    @Test("fp32 with either engine: the whole-model gradient of the training step matches finite differences",
          arguments: fp32EngineSelections, prvrModels)
    func fp32MatchesFiniteDifferences(selection: MatrixEngineSelection, model: String) throws {
        let c = Self.configuration(model)
        let (p, _) = perturbedParameters(c, seed: 3)
        let fixture = Self.fixture(c)
        let (g, step, ranOneDNN) = try Self.gradient(c, p, fixture, selection)
        #expect(ranOneDNN == (selection.engine == .onednn))
        let gap = StepGradientTests.nearestSelectionTie(step.head as! PRVRLossHead, batch: fixture.batch)
        try #require(gap > 1e-3, "fixture: a selection tie \(gap) inside the finite-difference step")
        let error = g.withUnsafeBufferPointer { gradient in
            GradientCheck.maxRelativeError(parameters: [p.storage.buffer], gradients: [gradient], directions: 4, epsilon: 1e-2) {
                withEngine(selection) { Self.loss(step, fixture) }
            }
        }
        print("\(selection), \(model): whole-model gradient check, max relative error \(error)")
        #expect(error < 1e-2, "max relative error \(error)")
    }

    /// How far the whole step's bf16 gradient may be from the fp32 gradient, normwise, at the
    /// model's initialisation (where training starts). Per product the bf16 error is at most
    /// (2u + u²)·Σ|aᵢbᵢ| with u = 2⁻⁸; the step chains about 20 products from the input
    /// projections through the head and back, errors adding with random signs (√20·2u ≈ 3.5% as
    /// a typical size, less where sums do not cancel). Measured: 1.3% (MamFusion), 2.5%
    /// (GMMFormer) with either engine. Bound 5%. (Against the fp32 twin's finite differences the
    /// check is indirect: the fp32 gradient matches them, `fp32MatchesFiniteDifferences`; the bf16
    /// forward itself is piecewise constant at the scale of its rounding, so its own differences
    /// measure rounding steps, not slopes.)
    static let stepBound = 0.05

    @Test("bf16: the step's gradient is the fp32 gradient within bf16's error, random and hard negatives",
          arguments: engineSelections.filter { $0.precision == .bf16 }, prvrModels)
    func bf16AgainstFP32Twin(selection: MatrixEngineSelection, model: String) throws {
        let c = Self.configuration(model)
        let p = ParameterSet(layout: c.parameterLayout)
        ParameterInitializer.initialize(p, seed: 3)
        let fixture = Self.fixture(c)
        let twin = MatrixEngineSelection(engine: selection.engine, precision: .fp32)
        for epoch in [0, 25] {
            let (g16, _, ranOneDNN) = try Self.gradient(c, p, fixture, selection, epoch: epoch)
            let (g32, _, _) = try Self.gradient(c, p, fixture, twin, epoch: epoch)
            #expect(ranOneDNN == (selection.engine == .onednn))
            #expect(g16 != g32, "bf16 must round something")
            var squaredDifference = 0.0, squaredNorm = 0.0
            for (x, y) in zip(g16, g32) {
                squaredDifference += Double(x - y) * Double(x - y)
                squaredNorm += Double(y) * Double(y)
            }
            let difference = squaredDifference.squareRoot(), norm = squaredNorm.squareRoot()
            print("\(selection), \(model), epoch \(epoch): ‖g_bf16 − g_fp32‖/‖g_fp32‖ = \(difference / norm)")
            #expect(difference / norm < Self.stepBound, "epoch \(epoch): \(difference / norm)")
        }
    }

    @Test("bf16: micro-batches of 1 and 2 videos give the whole share's gradient", arguments: engineSelections.filter { $0.precision == .bf16 })
    func bf16MicroBatches(selection: MatrixEngineSelection) throws {
        let c = Self.configuration(MamFusionModel.name)
        let (p, _) = perturbedParameters(c, seed: 6)
        let fixture = Self.fixture(c)
        let whole = try Self.gradient(c, p, fixture, selection).gradient
        let largest = whole.reduce(0) { max($0, abs($1)) }
        for micro in [1, 2] {
            let g = try Self.gradient(c, p, fixture, selection, microBatch: micro).gradient
            let worst = zip(g, whole).reduce(0) { max($0, abs($1.0 - $1.1)) }
            print("\(selection): micro-batch \(micro) vs whole share: largest difference \(worst / largest) of the largest entry")
            #expect(worst <= 1e-5 * largest, "micro-batch \(micro): largest difference \(worst) of \(largest)")
        }
    }
}
