// swift-tools-version:6.1
import PackageDescription

/// Layering (data flow): native shims (CMPI, COpenBLAS, CHDF5, CKernels)
/// → checked wrappers (MPIKit, HDF5Kit) and kernels (TensorKit, CounterRandom)
/// → model → data → distributed training / evaluation → the `mamfusion` tool.
/// Release builds keep Swift's bounds, overflow and precondition checks (-O, SwiftPM's default):
/// a malformed input that slips past validation stops with an error instead of corrupting memory.
/// Hot loops that must not pay for checks live in explicit kernels (CKernels, unsafe-pointer
/// loops in TensorKit).
let optimise: [SwiftSetting] = []

let package = Package(
    name: "mamfusion-mpi",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mamfusion", targets: ["mamfusion"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // Native layer: pkg-config names measured to work (NATIVE-NOTES.md).
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-openmpi", providers: [.apt(["libhdf5-openmpi-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // oneDNN: headers only (no link line); CKernels/onednn.c loads libdnnl.so.2 at run time.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .target(
            name: "CKernels",
            dependencies: ["CDNNL"],
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-mavx2", "-mfma", "-mf16c"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),

        .target(name: "CSignals"),
        .target(name: "InputFiles"),
        .target(name: "MPIKit", dependencies: ["CMPI", "TensorKit"], swiftSettings: optimise),
        .target(name: "HDF5Kit", dependencies: ["CHDF5", "MPIKit", "TensorKit", "InputFiles"], swiftSettings: optimise),
        .target(name: "CounterRandom", swiftSettings: optimise),
        .target(name: "TensorKit", dependencies: ["COpenBLAS", "CKernels", "CounterRandom"], swiftSettings: optimise),
        .target(name: "FeatureData", dependencies: ["InputFiles", "HDF5Kit", "MPIKit", "TensorKit", "CounterRandom", "CKernels", "CZlib"], swiftSettings: optimise),
        .target(name: "Evaluation", dependencies: ["InputFiles", "MPIKit", "HDF5Kit", "TensorKit", "CKernels"], swiftSettings: optimise),
        .target(name: "Training", dependencies: ["CSignals", "InputFiles", "MamFusion", "FeatureData", "Evaluation", "MPIKit", "HDF5Kit", "TensorKit", "CounterRandom", "CKernels",
                                               .product(name: "Logging", package: "swift-log")], swiftSettings: optimise),
        .target(name: "CommandOptions", dependencies: ["FeatureData", "MPIKit", "HDF5Kit", "MamFusion", "Evaluation", "Training",
                                                 .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "TestSupport", dependencies: ["TensorKit", "CounterRandom", "MamFusion", "MPIKit", "FeatureData"]),
        .target(name: "MamFusion", dependencies: ["InputFiles", "TensorKit", "CounterRandom", "CKernels", "HDF5Kit", "MPIKit", "FeatureData", "Yams"],
                swiftSettings: optimise),

        .executableTarget(
            name: "mamfusion",
            dependencies: [
                "MPIKit", "HDF5Kit", "TensorKit", "CounterRandom", "MamFusion", "FeatureData", "Evaluation", "Training", "CommandOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: optimise
        ),

        // Commands the test suite launches (under mpirun); not part of the shipped tool.
        .executableTarget(
            name: "mamfusion-test-support",
            dependencies: [
                "MPIKit", "HDF5Kit", "TensorKit", "CounterRandom", "MamFusion", "FeatureData", "Evaluation", "Training", "TestSupport", "CommandOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimise
        ),

        // Fuzz targets (Launch/fuzz): libFuzzer programs when built with -sanitize=fuzzer,address,
        // file replayers otherwise.
        .target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "fuzz-caption-file", dependencies: ["FuzzSupport", "FeatureData"], path: "Fuzz/Targets/fuzz-caption-file"),
        .executableTarget(name: "fuzz-video-frames", dependencies: ["FuzzSupport", "FeatureData"], path: "Fuzz/Targets/fuzz-video-frames"),
        .executableTarget(name: "fuzz-bigfile-header", dependencies: ["FuzzSupport", "FeatureData"], path: "Fuzz/Targets/fuzz-bigfile-header"),
        .executableTarget(name: "fuzz-configuration", dependencies: ["FuzzSupport", "MamFusion"], path: "Fuzz/Targets/fuzz-configuration"),
        .executableTarget(name: "fuzz-configuration-loader", dependencies: ["FuzzSupport", "MamFusion"], path: "Fuzz/Targets/fuzz-configuration-loader"),

        .testTarget(name: "CounterRandomTests", dependencies: ["CounterRandom"]),
        .testTarget(name: "TensorKitTests", dependencies: ["TensorKit", "TestSupport", "CounterRandom"]),
        .testTarget(name: "HDF5KitTests", dependencies: ["HDF5Kit", "TestSupport", "mamfusion-test-support"]),
        .testTarget(name: "FeatureDataTests", dependencies: ["FeatureData", "HDF5Kit", "TestSupport", "CounterRandom", "mamfusion-test-support"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "MPIKit", "TestSupport", "CounterRandom", "TensorKit", "mamfusion-test-support"]),
        .testTarget(name: "MamFusionTests", dependencies: ["MamFusion", "TensorKit", "TestSupport", "CounterRandom"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "MamFusion", "FeatureData", "MPIKit", "HDF5Kit", "TestSupport", "CounterRandom", "mamfusion",
                                                   "mamfusion-test-support"]),
        .testTarget(name: "ToolTests", dependencies: ["TestSupport", "MamFusion", "HDF5Kit", "mamfusion", "mamfusion-test-support"]),
        .testTarget(name: "MPIKitTests", dependencies: ["MPIKit", "TestSupport", "mamfusion", "mamfusion-test-support"]),
    ],
    swiftLanguageModes: [.v6]
)
