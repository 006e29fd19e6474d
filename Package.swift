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
        .target(
            name: "MixFill",
            dependencies: ["CBLAS"]
        ),
        .executableTarget(
            name: "mixfill",
            dependencies: [
                "MixFill",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "MixFillTests",
            dependencies: ["MixFill", "mixfill"],
            resources: []
        ),
    ],
    swiftLanguageModes: [.v6]
)
