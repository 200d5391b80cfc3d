import Testing
@testable import FeatureData

struct CollectionPathsTests {
    @Test("paths follow the MS-SL release layout")
    func layout() {
        let p = CollectionPaths(root: "/d", collection: "tvr", visualFeature: "i3d_resnet")
        #expect(p.captionFile(split: "train") == "/d/tvr/TextData/tvrtrain.caption.txt")
        #expect(p.queryFeatureFile == "/d/tvr/TextData/roberta_tvr_query_feat.hdf5")
        #expect(p.videoFramesFile == "/d/tvr/FeatureData/i3d_resnet/video2frames.txt")
    }
}
