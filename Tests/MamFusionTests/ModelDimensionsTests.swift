import Testing
@testable import MamFusion

struct ModelDimensionsTests {
    @Test("Mamba sizes follow the reference: d_inner = 2d, dt_rank = ceil(d/16)")
    func mambaSizes() {
        let tvr = ModelDimensions()
        #expect(tvr.mambaInner == 768 && tvr.mambaDtRank == 24 && tvr.headSize == 48)
        #expect(ModelDimensions(hidden: 40, heads: 4).mambaDtRank == 3)
    }
}
