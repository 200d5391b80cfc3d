import CKernels
import TensorKit

/// The reference optimiser (BertAdam of pytorch-pretrained-bert, MODEL.md §6) over the flat
/// parameter buffer, one fused pass per tensor:
/// 1. clip each tensor's gradient to L2 norm ≤ `maxGradientNorm` (per tensor, not global:
///    g ← g · max_norm/(‖g‖ + 1e-6) when that factor is < 1, as `clip_grad_norm_` does);
/// 2. m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g² — no bias correction;
/// 3. u = m/(√v + ε) + wd·p, with wd = 0 for names containing `bias`, `LayerNorm.bias` or
///    `LayerNorm.weight` (by name, exactly like the reference — so a Mamba unit's
///    `*_mamba.1.weight` LayerNorm *is* decayed);
/// 4. p ← p − lr·sched(step/t_total)·u, then step += 1 (the very first update has factor 0).
/// Tensors that never receive a gradient (the unused `vid_embed_proj`) are skipped entirely.
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

    public init(learningRate: Float, weightDecay: Float, warmupProportion: Double, totalSteps: Int) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.warmupProportion = warmupProportion
        self.totalSteps = totalSteps
    }

    /// warmup_linear(x, w) = x/w for x < w, else max((x − 1)/(w − 1), 0).
    public static func schedule(_ x: Double, warmup w: Double) -> Double {
        if x < w { return x / w }
        return max((x - 1) / (w - 1), 0)
    }

    /// The learning rate the next update will use.
    public var currentLearningRate: Double {
        Double(learningRate) * Self.schedule(Double(step) / Double(max(totalSteps, 1)), warmup: warmupProportion)
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
        for spec in parameters.layout.specs where !spec.kind.isUnused {
            let n = spec.count
            let g = gradients.storage.base + spec.offset
            let norm = Vector.sumOfSquares(g, count: n).squareRoot()
            let coefficient = Double(maxGradientNorm) / (norm + 1e-6)
            let clip = coefficient < 1 ? Float(coefficient) : 1
            mf_bert_adam(parameters.storage.base + spec.offset, g,
                         expAvg.storage.base + spec.offset, expAvgSq.storage.base + spec.offset, n,
                         clip, stepSize, Self.decays(spec.name) ? weightDecay : 0,
                         Float(beta1), Float(1 - beta1), Float(beta2), Float(1 - beta2), epsilon)
        }
        step += 1
    }
}
