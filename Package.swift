// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "MixFill",
    products: [
        .library(name: "MixFill", targets: ["MixFill"]),
        .executable(name: "mixfill", targets: ["mixfill"]),
    ],
    // MPI: `mixfill fit --distributed` under mpirun (Scripts/build-mpi builds it with
    // `--traits MPI`). Off by default, so the default build needs no MPI package.
    traits: [
        .trait(name: "MPI", description: "Data-parallel EM across processes over MPI (Open MPI: libopenmpi-dev)"),
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
        // Open MPI's C API, found through pkg-config (Debian: libopenmpi-dev, openmpi-bin),
        // with a shim that turns its handle macros into functions. Built only with the MPI trait.
        .systemLibrary(
            name: "CMPI",
            path: "Modules/CMPI",
            pkgConfig: "ompi",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // The sparse kernels' vector passes and the mppca M-step's small factorisations
        // compiled for AVX2 (a function attribute, not a build flag), chosen at run time when
        // the processor has it, so the portable build runs them on 256-bit registers too.
        // Same bits as the Swift code.
        .target(
            name: "CLanes",
            path: "Modules/CLanes"
        ),
        // The library: data, models, kernels, the EM loop and evaluation.
        .target(
            name: "MixFill",
            dependencies: ["CBLAS", "CLanes", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // What the commands add around a fit: batches of jobs, checkpoints, serving.
        .target(
            name: "MixFillTools",
            dependencies: ["MixFill"]
        ),
        // MixFill's `ProcessGroup` over MPI. Its sources are empty without the MPI trait
        // (SwiftPM may build a target whose only dependents need a trait that is off).
        .target(
            name: "MixFillMPI",
            dependencies: ["MixFill", .target(name: "CMPI", condition: .when(traits: ["MPI"]))]
        ),
        .executableTarget(
            name: "mixfill",
            dependencies: [
                "MixFill",
                "MixFillTools",
                .target(name: "MixFillMPI", condition: .when(traits: ["MPI"])),
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
