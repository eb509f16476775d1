import ArgumentParser
import Foundation
import Inference
import Media

/// `emotion watch`: a trained model on a file, a stream or a live device as it plays, with a session record.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Label a file, a stream or a live device as it plays: predictions as JSON lines and a session record.",
        discussion: """
            SOURCE is a file, a URL FFmpeg opens (tcp://, udp://, rtsp://, http://) or a device as KIND:NAME through
            libavdevice (v4l2:/dev/video0, alsa:default, pulse:default; --list-devices lists the kinds); --audio takes the
            sound from another source (a camera's microphone: --input v4l2:/dev/video0 --audio alsa:default). Each
            prediction reads the last mel_frames of audio (3 s at the defaults) and the face frames sampled over them.
            Every face is followed at the faces stage's analysis rate, and each window's face is chosen as the stage
            chooses a clip's: the one whose lips follow the voice, else the largest (speaker, speaker_reason). Without a
            visible face the prediction is the voice's (mode voice_only), in silence the face's (face_only). The record
            (session_info, emotion_statistics, detailed_results) is written atomically at the end, on SIGUSR1 or `s` at
            a terminal (with a JPEG of the current frame beside it, SESSION-snapshot-N.jpg), and when the input stops; `q` or SIGINT ends the
            session cleanly. --out writes the video with the face box in its emotion's colour, the label and the class
            probabilities drawn over it, audio kept.
            """)

    @Option(help: "The model: an export folder or a train stage's output folder (not needed with --list-devices).")
    var model: String?

    @Option(help: "The input: a file, a stream URL, or KIND:NAME of a device.")
    var input: String?

    @Option(help: "Audio from another source than the input's (a microphone beside a camera: alsa:default, pulse:default), in the same forms.")
    var audio: String?

    @Option(help: "Where the session record goes.")
    var session = "session.json"

    @Option(help: "Also write the video with the face box, label and probabilities drawn over it (MP4, audio kept).")
    var out: String?

    @Option(help: "Predictions per second of input.")
    var rate = 2.0

    @Flag(help: "Play a file at its own pace (streams and devices always are); otherwise as fast as it decodes.")
    var realtime = false

    @Flag(help: "List the device kinds this FFmpeg can read, and exit.")
    var listDevices = false

    @Option(help: "Seconds a stream or device may send nothing, while connecting too, before the session ends.")
    var timeout = 10.0

    @Option(help: "Of the frames followed, the detector searches every N-th (and each shot cut); the landmarks follow the faces between. Default: as the model's faces stage did (analysis_detect_every). 3 costs about a third of the detections, for lips read a little less surely.")
    var detectEvery: Int?

    @Option(help: "Engine threads (default: the machine's cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "fp32; bf16 (bf16 operands, fp32 sums: where the CPU has AVX512_BF16 or AMX); or int8: the export's int8 model (its face trunk on integer instructions; needs model_int8.json beside it).")
    var precision = ServingPrecision.fp32

    func validate() throws {
        guard listDevices || (input != nil && model != nil) else { throw ValidationError(input == nil ? "name the --input" : "name the --model") }
        guard rate > 0 && rate <= 50 else { throw ValidationError("--rate must be above 0 and at most 50") }
        guard detectEvery.map({ $0 >= 1 }) ?? true else { throw ValidationError("--detect-every must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard timeout > 0 && timeout <= 3600 else { throw ValidationError("--timeout must be above 0 and at most 3600 seconds") }
    }

    func run() throws {
        if listDevices {
            for (kind, what) in MediaStream.deviceKinds() { print("\(kind)\t\(what)") }
            return
        }
        var settings = WatchSession.Settings()
        (settings.rate, settings.realtime, settings.threads, settings.record, settings.annotated, settings.timeout) = (rate, realtime, threads, session, out, timeout)
        (settings.precision, settings.detectEvery) = (precision, detectEvery)
        let watch: WatchSession
        do { watch = try WatchSession(model: model!, input: input!, audio: audio, settings: settings) } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let control = SessionControl()
        control.start()
        defer { control.stop() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let (ending, failure) = watch.run(control: control) { detection in
            print(String(decoding: (try? encoder.encode(detection)) ?? Data(), as: UTF8.self))
            fflush(stdout)
            if isatty(2) != 0 {
                FileHandle.standardError.write(Data(String(format: "\r%7.1f s  real-time factor %.2f  %@ %.2f (%@)  dropped %d   ", watch.position,
                                                           watch.realTimeFactor, detection.emotion, detection.confidence, detection.mode, watch.dropped).utf8))
            }
        }
        let summary = watch.record.emotionStatistics
        FileHandle.standardError.write(Data(String(format: "\n%@ at %.1f s: %d predictions (dominant %@, mean confidence %.2f), %d windows dropped, real-time factor %.2f; record: %@\n",
                                                   ending.rawValue, watch.position, watch.detections.count, summary.dominantEmotion ?? "none",
                                                   summary.averageConfidence, watch.dropped, watch.realTimeFactor, session).utf8))
        if let failure {
            FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }
}
