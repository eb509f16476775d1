// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MultimodalEmotion",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "emotion", targets: ["emotion"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // The content-hashed incremental runner: knows stages, items, files and hashes, never emotions.
        .target(
            name: "Pipeline",
            dependencies: [
                "Yams",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // FFmpeg's C API (libavformat, libavcodec, libavutil, libswscale, libswresample), for Media only.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavutil libswscale libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev"])]
        ),
        // Decoding and encoding clips: Swift types and typed errors over FFmpeg.
        .target(name: "Media", dependencies: ["CFFmpeg"]),
        // The `emotion` command's subcommands, as a library so that tests drive the real parser.
        .target(
            name: "EmotionCLI",
            dependencies: [
                "Pipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "emotion", dependencies: ["EmotionCLI"]),

        // Locating ../shared, running oracle programs, temporary folders: for every test target.
        .target(name: "TestSupport", path: "Tests/TestSupport", linkerSettings: [.linkedFramework("XCTest")]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TestSupport"]),

        // Stage kinds that exist only to exercise the runner in tests.
        .target(name: "PipelineTestKinds", dependencies: ["Pipeline"], path: "Tests/PipelineTestKinds"),
        // `emotion`'s command line with the test kinds registered, so tests can run, kill and resume it.
        .executableTarget(
            name: "pipeline-probe",
            dependencies: ["EmotionCLI", "PipelineTestKinds"],
            path: "Tests/PipelineProbe"
        ),
        .testTarget(
            name: "PipelineTests",
            dependencies: ["Pipeline", "PipelineTestKinds", "EmotionCLI", "pipeline-probe"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
