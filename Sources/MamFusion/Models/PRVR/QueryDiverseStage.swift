import MPIKit
import TensorKit

/// What the PRVR head's query-diverse loss takes in place of the second query pass q2, computed
/// inside the head across ranks (`PRVRLossHead`): q2 itself (`UnfusedQueries`: MS-SL,
/// GMMFormer) or q2 through MamFusion's fusion modules (`FusionStage`). A stage may add d-wide
/// parts per query to the head's query gather (and their gradients to its reduce-scatter), run
/// its own collectives in between, and own parameter groups.
///
/// Call order in one step: `gatherParts`, `gatherDestinations` (before the query gather),
/// `forward` (after the scores); `inputGradient`, `backward` (after the score backward),
/// `scatterDestinations`, `finishBackward` (after the query reduce-scatter). Pointers a stage
/// returns stay valid until its next call of the same kind.
public protocol QueryDiverseStage: AnyObject {
    /// Groups of parameters the stage owns (final when the head's backward ends).
    var parameterGroups: [ParameterGroup] { get }
    /// This rank's rows (Q_r × d each) of the parts the stage adds to the query gather.
    func gatherParts(q2: UnsafePointer<Float>, rows: Int) -> [UnsafePointer<Float>]
    /// Where the gathered parts go: Q × d each, global order.
    func gatherDestinations(queries: Int) -> [UnsafeMutablePointer<Float>]
    /// The loss input x of own queries (Q_r × d), kept until `backward`. `send` and `receive`
    /// are the head's exchange buffers, free for the stage's own collectives.
    func forward(q2: UnsafePointer<Float>, F: UnsafePointer<Float>, geometry: HeadGeometry, send: ActivationBuffer,
                 receive: ActivationBuffer, collectives: inout StepCollectives) throws -> UnsafePointer<Float>
    /// Where the head writes ∂L/∂x (Q_r × d, zeroed; may be `dq2`, already zeroed, when x is q2).
    func inputGradient(rows: Int, dq2: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float>
    /// From ∂L/∂x: accumulates dq2 and dF of own rows; returns the gradients of its gathered parts
    /// for all Q queries (global order), partial on this rank, for the head's reduce-scatter.
    func backward(dInput: UnsafePointer<Float>, q2: UnsafePointer<Float>, F: UnsafePointer<Float>, dq2: UnsafeMutablePointer<Float>,
                  dF: UnsafeMutablePointer<Float>, geometry: HeadGeometry, send: ActivationBuffer, receive: ActivationBuffer,
                  collectives: inout StepCollectives) throws -> [UnsafePointer<Float>]
    /// Where the reduce-scatter leaves the summed gradients of own rows of its parts (Q_r × d each).
    func scatterDestinations(rows: Int) -> [UnsafeMutablePointer<Float>]
    /// Finishes backward from those summed gradients (accumulates dq2).
    func finishBackward(q2: UnsafePointer<Float>, rows: Int, dq2: UnsafeMutablePointer<Float>)
    /// Bytes the stage holds (memory reports).
    var bytes: Int { get }
}

/// The query-diverse loss on the unfused second query pass: x = q2 (MS-SL, GMMFormer; MODEL.md
/// §10). Nothing travels, nothing is owned.
public final class UnfusedQueries: QueryDiverseStage {
    public init() {}
    public var parameterGroups: [ParameterGroup] { [] }
    public func gatherParts(q2: UnsafePointer<Float>, rows: Int) -> [UnsafePointer<Float>] { [] }
    public func gatherDestinations(queries: Int) -> [UnsafeMutablePointer<Float>] { [] }
    public func forward(q2: UnsafePointer<Float>, F: UnsafePointer<Float>, geometry: HeadGeometry, send: ActivationBuffer,
                        receive: ActivationBuffer, collectives: inout StepCollectives) throws -> UnsafePointer<Float> { q2 }
    /// ∂L/∂x is ∂L/∂q2: written straight into dq2.
    public func inputGradient(rows: Int, dq2: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> { dq2 }
    public func backward(dInput: UnsafePointer<Float>, q2: UnsafePointer<Float>, F: UnsafePointer<Float>, dq2: UnsafeMutablePointer<Float>,
                         dF: UnsafeMutablePointer<Float>, geometry: HeadGeometry, send: ActivationBuffer, receive: ActivationBuffer,
                         collectives: inout StepCollectives) throws -> [UnsafePointer<Float>] { [] }
    public func scatterDestinations(rows: Int) -> [UnsafeMutablePointer<Float>] { [] }
    public func finishBackward(q2: UnsafePointer<Float>, rows: Int, dq2: UnsafeMutablePointer<Float>) {}
    public var bytes: Int { 0 }
}
