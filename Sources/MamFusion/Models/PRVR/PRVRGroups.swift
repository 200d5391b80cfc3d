/// The parameter groups of the PRVR encoders (MS-SL, GMMFormer, MamFusion), in the order their
/// backward makes them final (`PRVREncoders.backward`): the frame branch, then the clip branch,
/// then the query encoder — last, because its input gradients are the last to come back from
/// the other ranks.
extension ParameterGroup {
    /// The frame branch and its pooling (`frame_*`, `modular_vector_mapping_2`).
    public static let frame: ParameterGroup = "frame"
    /// The clip branch (`clip_*`).
    public static let clip: ParameterGroup = "clip"
    /// The query encoder, both passes, and its pooling (`query_*`, `modular_vector_mapping`).
    public static let query: ParameterGroup = "query"

    /// The encoders' groups in backward order.
    public static let prvrEncoders: [ParameterGroup] = [.frame, .clip, .query]
}
