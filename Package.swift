// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "MixFill",
    products: [
        .library(name: "MixFill", targets: ["MixFill"]),
        .executable(name: "mixfill", targets: ["mixfill"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // OpenBLAS's CBLAS and LAPACKE, found through pkg-config (Debian: libopenblas-dev,
        // liblapacke-dev). Only Sources/MixFill/Kernels imports it.
        .systemLibrary(
            name: "CBLAS",
            path: "Modules/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // The library: data, models, kernels, the EM loop and evaluation.
        .target(
            name: "MixFill",
            dependencies: ["CBLAS", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // What the commands add around a fit: batches of jobs, checkpoints, serving.
        .target(
            name: "MixFillTools",
            dependencies: ["MixFill"]
        ),
        .executableTarget(
            name: "mixfill",
            dependencies: [
                "MixFill",
                "MixFillTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "MixFillTests",
            dependencies: ["MixFill", "MixFillTools", "mixfill"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
