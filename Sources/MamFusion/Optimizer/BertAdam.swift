import CKernels
import Foundation
import TensorKit

/// The reference optimiser (BertAdam of pytorch-pretrained-bert, MODEL.md §6) over the flat
/// parameter buffer, one fused pass per tensor:
/// 0. (MUSE, MUSE.md §3; off by default) the gradient is first divided by `gradientDivisor`
///    (the official 8-GPU run's DDP average of 8 ranks' slices of one global loss: ∇L/8, a
///    constant of the recipe, not our rank count), then clipped to a **global** L2 norm ≤
///    `globalMaxGradientNorm` over every trained tensor (`clip_grad_norm_(model.parameters())`);
/// 1. clip each tensor's gradient to L2 norm ≤ `maxGradientNorm` (per tensor, not global:
///    g ← g · max_norm/(‖g‖ + 1e-6) when that factor is < 1, as `clip_grad_norm_` does);
/// 2. m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g² — no bias correction;
/// 3. u = m/(√v + ε) + wd·p, with wd = 0 for names containing `bias`, `LayerNorm.bias` or
///    `LayerNorm.weight` (by name, exactly like the reference — so a Mamba unit's
///    `*_mamba.1.weight` LayerNorm *is* decayed);
/// 4. p ← p − lr·sched(step/t_total)·u, then step += 1 (the very first update has factor 0);
///    sched is `warmup_linear` (MODEL.md §6) or `warmup_cosine` (MUSE: x/w for x < w, else
///    ½(1 + cos πx)).
/// Tensors that never receive a gradient (the `unused` group: the reference's unused
/// `vid_embed_proj`, MUSE's frozen pyramid) are skipped entirely.
public struct BertAdam: Sendable {
    public var learningRate: Float
    public var weightDecay: Float
    public var warmupProportion: Double
    /// Optimiser steps of the whole run (steps per epoch × epochs).
    public var totalSteps: Int
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Float = 1e-6
    public var maxGradientNorm: Float = 1.0
    /// Updates applied so far (the schedule's position); saved in checkpoints.
    public var step: Int = 0
    public var schedule = Schedule.warmupLinear
    /// Step 0: ∇ ← ∇/divisor (1: off).
    public var gradientDivisor: Double = 1
    /// Step 0: the global clip (nil: off).
    public var globalMaxGradientNorm: Double?

    /// The learning-rate schedules of pytorch-pretrained-bert that the recipes use.
    public enum Schedule: String, Sendable, CaseIterable {
        case warmupLinear = "warmup_linear", warmupCosine = "warmup_cosine"

        /// The factor at progress x = step/t_total with warm-up fraction w.
        public func factor(_ x: Double, warmup w: Double) -> Double {
            if x < w { return x / w }
            switch self {
            case .warmupLinear: return max((x - 1) / (w - 1), 0)
            case .warmupCosine: return 0.5 * (1 + cos(Double.pi * x))
            }
        }
    }

    public init(learningRate: Float, weightDecay: Float, warmupProportion: Double, totalSteps: Int) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.warmupProportion = warmupProportion
        self.totalSteps = totalSteps
    }

    /// The optimiser configuration `c` asks for (lr, wd, warm-up, β2, schedule, divisor, global clip).
    public init(configuration c: RunConfiguration, totalSteps: Int) {
        self.init(learningRate: Float(c.learningRate), weightDecay: Float(c.weightDecay), warmupProportion: c.warmupProportion,
                  totalSteps: totalSteps)
        beta2 = c.adamBeta2
        schedule = c.learningRateSchedule
        gradientDivisor = c.gradientDivisor
        globalMaxGradientNorm = c.globalClipNorm > 0 ? c.globalClipNorm : nil
    }

    /// warmup_linear(x, w) = x/w for x < w, else max((x − 1)/(w − 1), 0).
    public static func schedule(_ x: Double, warmup w: Double) -> Double { Schedule.warmupLinear.factor(x, warmup: w) }

    /// The learning rate the next update will use.
    public var currentLearningRate: Double {
        Double(learningRate) * schedule.factor(Double(step) / Double(max(totalSteps, 1)), warmup: warmupProportion)
    }

    /// Whether a tensor named `name` is decayed (reference rule: no `bias`, `LayerNorm.bias`,
    /// `LayerNorm.weight` substring).
    public static func decays(_ name: String) -> Bool {
        !(name.contains("bias") || name.contains("LayerNorm.bias") || name.contains("LayerNorm.weight"))
    }

    /// Applies one update to `parameters` from `gradients` (the cross-rank sum, not yet clipped),
    /// with the moments `exp_avg` (m) and `exp_avg_sq` (v). `gradients` is left unchanged.
    public mutating func update(parameters: ParameterSet, gradients: ParameterSet, expAvg: ParameterSet, expAvgSq: ParameterSet) {
        let stepSize = Float(currentLearningRate)
        let trained = parameters.layout.specs.filter { $0.group != .unused }
        let norms = trained.map { Vector.sumOfSquares(gradients.storage.base + $0.offset, count: $0.count).squareRoot() }
        // Step 0: one factor for every tensor (exactly 1 when neither the divisor nor the global
        // clip is on, so the reference's updates keep their bits).
        var scale = 1 / gradientDivisor
        if let maximum = globalMaxGradientNorm {
            let total = scale * norms.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let coefficient = maximum / (total + 1e-6)
            if coefficient < 1 { scale *= coefficient }
        }
        for (spec, norm) in zip(trained, norms) {
            let n = spec.count
            let g = gradients.storage.base + spec.offset
            let coefficient = Double(maxGradientNorm) / (scale * norm + 1e-6)
            let clip = (coefficient < 1 ? Float(coefficient) : 1) * Float(scale)
            mf_bert_adam(parameters.storage.base + spec.offset, g,
                         expAvg.storage.base + spec.offset, expAvgSq.storage.base + spec.offset, n,
                         clip, stepSize, Self.decays(spec.name) ? weightDecay : 0,
                         Float(beta1), Float(1 - beta1), Float(beta2), Float(1 - beta2), epsilon)
        }
        step += 1
    }
}
