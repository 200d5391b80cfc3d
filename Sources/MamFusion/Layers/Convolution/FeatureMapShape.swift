/// The shape of a batch of feature maps stored **channels-last**: `images` maps of
/// `height × width` positions, each position one row of `channels` floats, images one after
/// another and positions row-major inside an image ([images, height, width, channels]).
///
/// Channels-last is the layout of CLIP's patch tokens (one W-vector per patch) and of the
/// sequence MUSE feeds its Mamba blocks, so the pyramid never transposes: a 1×1 convolution is
/// a Linear over rows and a channel LayerNorm is a LayerNorm over rows.
public struct FeatureMapShape: Sendable, Equatable, CustomStringConvertible {
    public var images: Int
    public var height: Int
    public var width: Int
    public var channels: Int

    public init(images: Int, height: Int, width: Int, channels: Int) {
        (self.images, self.height, self.width, self.channels) = (images, height, width, channels)
    }

    /// Positions of one image.
    public var positions: Int { height * width }
    /// Rows of the whole batch (images × positions).
    public var rows: Int { images * positions }
    /// Floats of the whole batch.
    public var count: Int { rows * channels }

    /// The same images and grid with another channel count.
    public func with(channels: Int) -> FeatureMapShape {
        FeatureMapShape(images: images, height: height, width: width, channels: channels)
    }

    public var description: String { "[\(images), \(height), \(width), \(channels)]" }
}
