// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MultimodalEmotion",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "emotion", targets: ["emotion"]),
        .executable(name: "emotion-worker", targets: ["emotion-worker"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The content-hashed incremental runner: knows stages, items, files and hashes, never emotions.
        .target(
            name: "Pipeline",
            dependencies: [
                "ParallelWork",
                "ChildProcesses",
                "WebPages",
                "Yams",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Self-contained HTML pages and SVG figures that know where their labels land: the run overview's and the reports'.
        .target(name: "WebPages"),
        // Child processes started with chosen descriptors, watched and reaped, their deaths named: the runner's unit
        // workers and training's workers, one piece of code.
        .target(name: "ChildProcesses"),
        // Independent work on several threads, keeping the first error: one helper for every caller.
        .target(name: "ParallelWork"),
        // FFmpeg's C API (libavformat, libavcodec, libavutil, libswscale, libswresample, libavdevice), for Media only.
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavutil libswscale libswresample libavdevice",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev", "libavdevice-dev"])]
        ),
        // Decoding and encoding clips: Swift types and typed errors over FFmpeg.
        .target(name: "Media", dependencies: ["CFFmpeg"]),
        // espeak-ng, for Speech only.
        .systemLibrary(name: "CEspeakNG", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),
        // Text to speech with controllable prosody, for the generated dataset's voices.
        .target(name: "Speech", dependencies: ["CEspeakNG", "ChildProcesses"]),
        // One utterance per process, so that each one's speech depends on its text and prosody alone.
        .executableTarget(name: "emotion-speak", dependencies: ["Speech"]),
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
        .target(name: "Faces", dependencies: ["CDlib", "Media", "OneDNN", "ParallelWork", "Safetensors", .product(name: "Crypto", package: "swift-crypto")]),
        // FFTW (single precision), for FFT only.
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // Real FFTs planned once and run from any thread.
        .target(name: "FFT", dependencies: ["CFFTW"]),
        // Audio features: the log-mel spectrogram of MODEL.md.
        .target(name: "AudioFeatures", dependencies: ["FFT"]),
        // oneDNN (libdnnl-dev), for OneDNN only: convolutions and matrix products, threaded with OpenMP.
        .systemLibrary(name: "COneDNN", providers: [.apt(["libdnnl-dev"])]),
        // oneDNN's convolution primitives and sgemm as Swift calls on plain NCHW buffers.
        .target(name: "OneDNN", dependencies: ["COneDNN", "COpenMP", "BufferPool"]),
        // GNU OpenMP, the thread pool oneDNN runs on, for OneDNN only.
        .systemLibrary(name: "COpenMP"),
        // Large buffers reused between tensors of one size: a training step allocates the same sizes each step.
        .target(name: "BufferPool"),
        // OpenBLAS's CBLAS, for OpenBLAS only.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // OpenBLAS's sgemm as a Swift call: bench-model's comparison for oneDNN's (the engine computes on oneDNN).
        .target(name: "OpenBLAS", dependencies: ["COpenBLAS"]),
        // The safetensors format PyTorch users save state dictionaries in: a reader and an atomic writer.
        .target(name: "Safetensors"),
        // The sharded tensor cache read back: a split's index and shards (checked by SHA-256), epochs for rank r of N,
        // batches in MODEL.md's layout with training augmentation, prefetched.
        .target(name: "Dataset", dependencies: ["Labels", "Safetensors", "SeededRandom", .product(name: "Crypto", package: "swift-crypto")]),
        // Float32 tensors on the CPU with define-by-run reverse-mode differentiation; knows nothing of media.
        .target(name: "Tensor", dependencies: ["OneDNN", "BufferPool"]),
        // Modules with PyTorch's parameter names, layers, state dictionaries, Adam and its schedule.
        .target(name: "NN", dependencies: ["Tensor", "Safetensors"]),
        // MODEL.md's EmotionModel: ResNet-18 faces, CNN + BiGRU voice, five fusions, classifier.
        .target(name: "EmotionModel", dependencies: ["NN", "Tensor", "OneDNN", "BufferPool", .product(name: "Crypto", package: "swift-crypto")]),
        // Atomic loads, stores and adds on 64-bit words at any address (a segment several processes map), for GradientExchange only.
        .target(name: "CAtomics"),
        // Gradients summed across worker processes through POSIX shared memory: reduce-scatter and all-gather in rank order, bounded waits.
        .target(name: "GradientExchange", dependencies: ["CAtomics"]),
        // Open MPI's C API (Debian's libopenmpi-dev), for MPI only.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // MPI as Swift calls: joining a job, communicators per machine, all-reduce and broadcast; errors as throws.
        .target(name: "MPI", dependencies: ["CMPI"]),
        // Data-parallel training: N worker processes, one per device, exchanging gradients through shared memory; checkpoints
        // and resume; the rank's loop and the job that starts and watches the workers.
        .target(name: "Training", dependencies: ["ChildProcesses", "GradientExchange", "MPI", "Dataset", "EmotionModel", "NN", "Tensor", "OneDNN",
                                                 "Metrics", "Safetensors", "ModelContract", "Labels"]),
        // A trained model on a split of the sharded cache: predictions, figures with intervals and the baseline, report.html.
        .target(name: "Evaluation", dependencies: ["Dataset", "EmotionModel", "Labels", "Meld", "Metrics", "ModelContract", "OneDNN", "Tensor", "WebPages"]),
        // Accuracy, weighted and macro F1, per-class figures, the confusion matrix and bootstrap intervals: training's dev
        // figures and the evaluation's, one definition.
        .target(name: "Metrics", dependencies: ["SeededRandom"]),
        // The classes a dataset is labelled with and a model predicts, in output order: decided by the data, carried with it.
        .target(name: "Labels"),
        // MELD's conventions: labels and splits, its CSVs, timestamps, and the repair of its legacy text.
        .target(name: "Meld", dependencies: ["Labels"]),
        // Emotion corpora beyond MELD (CREMA-D, RAVDESS, IEMOCAP, a folder with a labels CSV) read into MELD's manifests,
        // with speaker-independent splits and folds.
        .target(name: "Corpora", dependencies: ["Labels", "Meld", "Media", "SeededRandom"]),
        // The trained model's contract: typed settings, train.json and model_info.json (one reader and writer each), the
        // folder a trained model lives in. Training writes it; evaluation, export and inference read it.
        .target(name: "ModelContract", dependencies: ["Labels", "EmotionModel", "Dataset", "Metrics", "Tensor", .product(name: "Crypto", package: "swift-crypto")]),
        // SplitMix64: a seeded generator whose whole stream follows from one seed, for the generated dataset and data orders.
        .target(name: "SeededRandom"),
        // The generated MELD-layout dataset: drawn faces, synthesized voices, MELD's CSVs and faults.
        .target(name: "Synthesis", dependencies: ["Labels", "Meld", "Corpora", "Media", "Drawing", "Speech", "ParallelWork", "SeededRandom"]),
        // ONNX's protobuf schema (onnx.pb.swift, generated once from onnx.proto and committed: `make onnx-proto`
        // regenerates it) and a graph builder; knows ONNX, not the network.
        .target(name: "ONNX", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // A trained model in the forms users deploy: safetensors, ONNX float and int8, emotion_model.py, model_info.json.
        .target(name: "Export", dependencies: ["ONNX", "EmotionModel", "NN", "Dataset", "Evaluation", "Labels", "Metrics", "ModelContract", "Safetensors"],
                resources: [.copy("Resources/emotion_model.py")]),
        // The project's stage kinds: each composes the libraries above into a step of a pipeline.
        .target(name: "EmotionStages", dependencies: ["Pipeline", "Meld", "Corpora", "Media", "Synthesis", "AudioFeatures", "Faces", "Dataset", "Safetensors", "Training", "Evaluation",
                                                     "EmotionModel", "NN", "Export", "Labels", "ModelContract", "Tensor"]),
        // The `emotion` front end's commands (run, status, dag, gc, kinds): the runner alone, no media or numeric library.
        .target(name: "EmotionCLI", dependencies: ["Pipeline", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "emotion", dependencies: ["EmotionCLI"]),
        // A trained model on any file or live input: the stages' decoding, faces and log-mel, then the model (emotion infer,
        // emotion watch and its annotated video).
        .target(name: "Inference", dependencies: ["AudioFeatures", "Dataset", "Drawing", "EmotionModel", "Faces", "Labels", "Media", "ModelContract", "NN", "OneDNN",
                                                "Safetensors", "Tensor"]),
        // The commands that compute (synth, clean, faces, mel, forward, train, export, infer), each a stage's code run on its own.
        .target(
            name: "EmotionTools",
            dependencies: [
                "EmotionCLI", "Pipeline", "EmotionStages", "Synthesis", "Meld", "Faces", "Media", "AudioFeatures", "FFT", "EmotionModel", "NN",
                "Tensor", "Safetensors", "ParallelWork", "Training", "Export", "Dataset", "Inference", "Labels", "ModelContract",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `emotion run --mpi`: the runner's units spread over an MPI job's ranks (rank 0 plans and records), for the worker program.
        .target(name: "PipelineMPI", dependencies: ["Pipeline", "MPI"]),
        // The worker program: the stage kinds' code, which `emotion run` runs units in, and the commands that compute.
        .executableTarget(name: "emotion-worker", dependencies: ["EmotionCLI", "EmotionTools", "EmotionStages", "PipelineMPI"]),
        // make bench-model: EmotionModel's training step, inference and convolution throughput on this machine; make bench-infer's engine side.
        .executableTarget(name: "bench-model", dependencies: ["EmotionModel", "NN", "Tensor", "OneDNN", "OpenBLAS", "Dataset", "Export", "Labels", "Meld", "ModelContract"]),

        // make bench-train: memcpy, the all-reduce's bus bandwidth, and training steps with 1, 2 and 3 workers on this machine.
        .executableTarget(name: "bench-train", dependencies: ["Training", "ModelContract", "Labels", "Meld", "GradientExchange", "MPI", "ChildProcesses", "EmotionModel", "NN"]),

        // Locating ../shared, running oracle programs, temporary folders, the ops fixtures: for every test target.
        .target(name: "TestSupport", dependencies: ["NN", "Tensor", "Safetensors", "Dataset", "Labels", "Synthesis"], path: "Tests/TestSupport",
                linkerSettings: [.linkedFramework("XCTest")]),
        .testTarget(name: "ParallelWorkTests", dependencies: ["ParallelWork"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TestSupport"]),
        .testTarget(name: "FFTTests", dependencies: ["FFT"]),
        .testTarget(name: "AudioFeaturesTests", dependencies: ["AudioFeatures", "Safetensors", "TestSupport"]),
        .testTarget(name: "FacesTests", dependencies: ["Faces", "Media", "Meld", "Safetensors", "Synthesis", "TestSupport", "emotion", "emotion-worker",
                                                   .product(name: "Crypto", package: "swift-crypto")], exclude: ["mtcnn_oracle.py"]),
        .testTarget(name: "SpeechTests", dependencies: ["Speech", "emotion-speak"]),
        .testTarget(name: "DrawingTests", dependencies: ["Drawing"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors", "NN", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "NN", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor", "Safetensors", "TestSupport"]),
        .testTarget(name: "EmotionModelTests", dependencies: ["EmotionModel", "NN", "Tensor", "Safetensors", "TestSupport", "emotion", "emotion-worker"]),
        .testTarget(name: "LabelsTests", dependencies: ["Labels"]),
        // One rank of an MPI job, so that MPITests run the wrapper under a real mpirun.
        .executableTarget(name: "mpi-probe", dependencies: ["MPI"], path: "Tests/MPIProbe"),
        // Seeded mutations of valid inputs for the parsers users hand files to, one target per run (HostileInputTests).
        .executableTarget(name: "fuzz-probe", dependencies: ["Media", "Meld", "Pipeline", "Safetensors", "SeededRandom"], path: "Tests/FuzzProbe"),
        .testTarget(name: "HostileInputTests", dependencies: ["ChildProcesses", "TestSupport", "fuzz-probe"]),
        .testTarget(name: "MPITests", dependencies: ["ChildProcesses", "TestSupport", "mpi-probe"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Dataset", "EmotionModel", "Labels", "ModelContract", "NN", "Tensor", "TestSupport"]),
        .testTarget(name: "ONNXTests", dependencies: ["ONNX", "TestSupport"]),
        .testTarget(name: "OneDNNTests", dependencies: ["OneDNN", "TestSupport"]),
        .testTarget(name: "OpenBLASTests", dependencies: ["OpenBLAS", "TestSupport"]),
        .testTarget(name: "SeededRandomTests", dependencies: ["SeededRandom"]),
        .testTarget(name: "BufferPoolTests", dependencies: ["BufferPool"]),
        .testTarget(name: "ChildProcessesTests", dependencies: ["ChildProcesses"]),
        // The README and docs/: links that resolve, a README that stays short.
        .testTarget(name: "DocumentationTests", exclude: []),
        .testTarget(name: "ModelContractTests", dependencies: ["ModelContract", "Labels", "Metrics", "Dataset", "EmotionModel", "TestSupport"]),
        .testTarget(name: "CorporaTests", dependencies: ["Corpora", "EmotionStages", "Labels", "Media", "Meld", "TestSupport"]),
        .testTarget(name: "MeldTests", dependencies: ["Labels", "Meld", "TestSupport"]),
        .testTarget(name: "DatasetTests", dependencies: ["Dataset", "Labels", "Safetensors", "TestSupport"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Labels", "Metrics", "ModelContract", "TestSupport", "WebPages"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "ModelContract", "Labels", "EmotionModel", "NN", "OneDNN", "Tensor", "TestSupport"]),
        // A worker of a gradient exchange, so that tests run real processes.
        .executableTarget(name: "exchange-probe", dependencies: ["GradientExchange"], path: "Tests/ExchangeProbe"),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "ModelContract", "Labels", "ChildProcesses", "Dataset", "NN", "OneDNN", "Safetensors", "TestSupport", "emotion-worker"],
                    exclude: ["ddp_oracle.py"]),
        .testTarget(name: "GradientExchangeTests", dependencies: ["GradientExchange", "TestSupport", "exchange-probe"]),
        .testTarget(name: "SynthesisTests", dependencies: ["Synthesis", "Speech", "emotion-speak", "EmotionStages", "Pipeline", "Media", "Meld", "TestSupport", "emotion", "emotion-worker"]),
        .testTarget(name: "EmotionStagesTests", dependencies: ["EmotionStages", "Synthesis", "Media", "Meld", "Pipeline", "Dataset", "Safetensors", "TestSupport",
                                                               "EmotionModel", "NN", "Tensor",
                                                               "emotion", "emotion-worker", .product(name: "Crypto", package: "swift-crypto")]),
        // The programs as users run them: infer, watch, a label set from generation to serving (binaries beside the tests).
        .testTarget(name: "EndToEndTests", dependencies: ["ModelContract", "Labels", "Media", "ONNX", "Safetensors", "TestSupport", "emotion", "emotion-worker"]),
        // `emotion run --mpi` under a real mpirun: units spread over ranks, the same bytes as one machine.
        .testTarget(name: "PipelineMPITests", dependencies: ["ChildProcesses", "TestSupport", "emotion", "emotion-worker"]),
        .testTarget(name: "EmotionToolsTests", dependencies: ["EmotionTools", "EmotionCLI", "EmotionStages", "Pipeline",
                                                              .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "EmotionCLITests", dependencies: ["EmotionCLI", "Pipeline", "TestSupport", "emotion", "emotion-worker", "pipeline-probe",
                                                            .product(name: "ArgumentParser", package: "swift-argument-parser")]),

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
