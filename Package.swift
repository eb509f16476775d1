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
        // espeak-ng, for Speech only.
        .systemLibrary(name: "CEspeakNG", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),
        // Text to speech with controllable prosody, for the generated dataset's voices.
        .target(name: "Speech", dependencies: ["CEspeakNG"]),
        // cairo, for Drawing only.
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        // Anti-aliased 2-D drawing, read back as RGB: the generated dataset's faces.
        .target(name: "Drawing", dependencies: ["CCairo"]),
        // dlib (Debian's libdlib-dev) behind a C API. Optimised in every configuration: dlib at -O0 is ~75x slower.
        // dlib's headers call BLAS and LAPACK inline, so this target links them itself.
        .target(
            name: "CDlib",
            cxxSettings: [.unsafeFlags(["-O2", "-std=c++14"])],
            linkerSettings: [.linkedLibrary("dlib"), .linkedLibrary("openblas"), .linkedLibrary("lapack"),
                             .linkedLibrary("png"), .linkedLibrary("jpeg"), .linkedLibrary("stdc++")]
        ),
        // Faces: detection, landmarks and aligned chips, as Swift types over CDlib.
        .target(name: "Faces", dependencies: ["CDlib", "Media"]),
        // FFTW (single precision), for FFT only.
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // Real FFTs planned once and run from any thread.
        .target(name: "FFT", dependencies: ["CFFTW"]),
        // Audio features: the log-mel spectrogram of MODEL.md.
        .target(name: "AudioFeatures", dependencies: ["FFT"]),
        // oneDNN (libdnnl-dev), for DNNL only: convolutions and matrix products, threaded with OpenMP.
        .systemLibrary(name: "COneDNN", providers: [.apt(["libdnnl-dev"])]),
        // oneDNN's convolution primitives and sgemm as Swift calls on plain NCHW buffers.
        .target(name: "DNNL", dependencies: ["COneDNN", "COpenMP", "BufferPool"]),
        // GNU OpenMP, the thread pool oneDNN runs on, for DNNL only.
        .systemLibrary(name: "COpenMP"),
        // Large buffers reused between tensors of one size: a training step allocates the same sizes each step.
        .target(name: "BufferPool"),
        // OpenBLAS's CBLAS, for BLAS only.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // OpenBLAS's sgemm as a Swift call.
        .target(name: "BLAS", dependencies: ["COpenBLAS"]),
        // The safetensors format PyTorch users save state dictionaries in: a reader and an atomic writer.
        .target(name: "Safetensors"),
        // Float32 tensors on the CPU with define-by-run reverse-mode differentiation; knows nothing of media.
        .target(name: "Tensor", dependencies: ["DNNL", "BufferPool"]),
        // Modules with PyTorch's parameter names, layers, state dictionaries, Adam and its schedule.
        .target(name: "NN", dependencies: ["Tensor", "Safetensors"]),
        // MODEL.md's EmotionModel: ResNet-18 faces, CNN + BiGRU voice, five fusions, classifier.
        .target(name: "EmotionModel", dependencies: ["NN", "Tensor"]),
        // MELD's conventions: labels and splits, its CSVs, timestamps, and the repair of its legacy text.
        .target(name: "Meld"),
        // The generated MELD-layout dataset: drawn faces, synthesized voices, MELD's CSVs and faults.
        .target(name: "Synthesis", dependencies: ["Meld", "Media", "Drawing", "Speech"]),
        // The project's stage kinds: each composes the libraries above into a step of a pipeline.
        .target(name: "Stages", dependencies: ["Pipeline", "Meld", "Media", "Synthesis", "AudioFeatures", "Faces"]),
        // The `emotion` command's subcommands, as a library so that tests drive the real parser.
        .target(
            name: "EmotionCLI",
            dependencies: [
                "Pipeline", "Stages", "Synthesis", "Meld", "Faces", "Media", "EmotionModel", "NN", "Tensor", "Safetensors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "emotion", dependencies: ["EmotionCLI"]),
        // make bench-model: EmotionModel's training step, inference and convolution throughput on this machine.
        .executableTarget(name: "bench-model", dependencies: ["EmotionModel", "NN", "Tensor", "DNNL", "BLAS"]),

        // Locating ../shared, running oracle programs, temporary folders: for every test target.
        .target(name: "TestSupport", path: "Tests/TestSupport", linkerSettings: [.linkedFramework("XCTest")]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "NN", "Safetensors", "DNNL", "TestSupport"]),
        .testTarget(name: "EmotionModelTests", dependencies: ["EmotionModel", "NN", "Tensor", "Safetensors", "TestSupport", "emotion"]),
        .testTarget(name: "MeldTests", dependencies: ["Meld", "TestSupport"]),
        .testTarget(name: "AudioFeaturesTests", dependencies: ["AudioFeatures", "Safetensors", "TestSupport"]),
        .testTarget(name: "FacesTests", dependencies: ["Faces", "Media", "Meld", "Synthesis", "TestSupport", "emotion", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "StagesTests", dependencies: ["Stages", "Synthesis", "Media", "Meld", "Pipeline", "TestSupport", "emotion"]),

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
            dependencies: ["Pipeline", "PipelineTestKinds", "EmotionCLI", "pipeline-probe", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
