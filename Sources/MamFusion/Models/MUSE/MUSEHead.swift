/// MUSE's `ShardedHead`: the symmetric InfoNCE over the global batch of pairs
/// (`SymmetricInfoNCEHead`), reported as two terms, `t2v` and `v2t`, each already halved so that
/// their sum is the loss. In a batch of pairs a position is both a video and its caption, so a
/// rank's own videos and own captions are the same global positions. The head has no
/// parameters; captions get no gradient (their slot is zeroed).
final class MUSEHead: ShardedHead {
    let videoSlot: EmbeddingLayout.Slot, captionSlot: EmbeddingLayout.Slot
    let infoNCE: SymmetricInfoNCEHead

    init(video: EmbeddingLayout.Slot, caption: EmbeddingLayout.Slot, width: Int, logitScale: Float) {
        (videoSlot, captionSlot) = (video, caption)
        infoNCE = SymmetricInfoNCEHead(width: width, logitScale: logitScale)
    }

    var parameterGroups: [ParameterGroup] { [] }

    func forward(_ embeddings: EmbeddingBuffers, batch: GlobalBatch, assignment: RankAssignment, key: StepKey,
                 collectives: inout StepCollectives) throws -> LossTerms {
        precondition(assignment.videosOfRank == assignment.queriesOfRank && batch.queriesPerVideo.allSatisfy { $0 == 1 },
                     "MUSE trains on (video, caption) pairs: one caption per video position")
        let terms = try infoNCE.forward(videos: embeddings.pointer(videoSlot), captions: embeddings.pointer(captionSlot),
                                        assignment: assignment.videosOfRank, collectives: &collectives)
        return LossTerms([.init("t2v", 0.5 * terms.textToVideo), .init("v2t", 0.5 * terms.videoToText)])
    }

    func backward(_ embeddings: EmbeddingBuffers, into gradients: EmbeddingBuffers, collectives: inout StepCollectives) throws {
        infoNCE.backward()
        let rows = embeddings.videos * videoSlot.width
        gradients.reserve(queries: embeddings.queries, videos: embeddings.videos)
        gradients.pointer(videoSlot).update(from: infoNCE.videoGradient.pointer, count: rows)
        gradients.pointer(captionSlot).update(repeating: 0, count: embeddings.queries * captionSlot.width)
    }

    var bytes: Int { infoNCE.bytes }
}
