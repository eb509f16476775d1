import ArgumentParser
import Foundation
import Inference

extension ServingPrecision: ExpressibleByArgument {}

/// `emotion infer`: a trained model on any files FFmpeg reads, one JSON line each.
struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Label video or audio files with a trained model: one JSON line per file.",
        discussion: """
            MODEL is an export folder (model_info.json, model.safetensors) or a train stage's output (train.json,
            best.safetensors). Each file is prepared as the pipeline prepared the training clips: the faces stage's
            frames (sampled over the whole file) and alignment, the mel stage's log-mel, and the centre mel_frames of it
            (3 s at the defaults) as evaluation takes them. A file without video gives a voice-only prediction (the face
            input is what the model saw for clips without a face), one without audio a face-only one (the voice input is
            silence's log-mel); `mode` says which. A file that cannot be read gets a line with `error`, the others go
            on, and the command then exits with status 1. Lines: file, probabilities (in `classes` order: \
            neutral, joy, sadness, anger, surprise, fear, disgust), label, confidence, mode, video, audio, face_found,
            face_frames (frames where the face was detected), frames_sampled, duration, audio_window, seconds.
            """)

    @Option(help: "The model: an export folder or a train stage's output folder.")
    var model: String

    @Argument(help: "Video or audio files.")
    var files: [String]

    @Option(help: "Files per forward pass.")
    var batch = 8

    @Option(help: "Engine threads (default: the machine's cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "fp32; bf16 (bf16 operands, fp32 sums: where the CPU has AVX512_BF16 or AMX); or int8: the export's int8 model (its face trunk on integer instructions; needs model_int8.json beside it).")
    var precision = ServingPrecision.fp32

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one file") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let inference: ClipInference
        do {
            inference = try ClipInference(try TrainedModel(folder: model, precision: precision))
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        inference.threads = threads
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = 0
        _ = inference.predict(files, batch: batch) { prediction in
            if prediction.error != nil { failed += 1 }
            print(String(decoding: (try? encoder.encode(prediction)) ?? Data(), as: UTF8.self))
            fflush(stdout)
        }
        if failed > 0 {
            FileHandle.standardError.write(Data("error: \(failed) of \(files.count) file(s) could not be labelled (see their `error`)\n".utf8))
            throw ExitCode(1)
        }
    }
}
