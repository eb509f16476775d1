import ArgumentParser
import Dispatch
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
            prediction reads the last mel_frames of audio (3 s at the defaults) and the face frames sampled over them; a
            face is followed from frame to frame, the detector running on every fourth frame kept. Without a visible
            face the prediction is the voice's (mode voice_only), in silence the face's (face_only). The record
            (session_info, emotion_statistics, detailed_results) is written atomically at the end, on SIGUSR1 or `s` at
            a terminal (with a JPEG of the current frame beside it, SESSION-snapshot-N.jpg), and when the input stops; `q` or SIGINT ends the
            session cleanly. --out writes the video with the face box in its emotion's colour, the label and the seven
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

    @Option(help: "Engine threads (default: the machine's cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard listDevices || (input != nil && model != nil) else { throw ValidationError(input == nil ? "name the --input" : "name the --model") }
        guard rate > 0 && rate <= 50 else { throw ValidationError("--rate must be above 0 and at most 50") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        if listDevices {
            for (kind, what) in MediaStream.deviceKinds() { print("\(kind)\t\(what)") }
            return
        }
        let (source, device) = Self.parse(input!)
        let watcher: Watcher
        let stream: MediaStream
        var paired: PairedStreams?
        do {
            let trained = try TrainedModel(folder: model!)
            stream = try MediaStream(source: source, device: device, sampleRate: trained.mel.sampleRate)
            if let audio {
                let (audioSource, audioDevice) = Self.parse(audio)
                paired = try PairedStreams(video: stream, audio: try MediaStream(source: audioSource, device: audioDevice, sampleRate: trained.mel.sampleRate))
            }
            watcher = try Watcher(trained, rate: rate, video: stream.videoSize != nil, audio: paired != nil || stream.hasAudio)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        watcher.threads = threads
        let control = SessionControl()
        control.start()
        defer { control.stop() }
        let started = Date()
        let live = device != nil || source.contains("://") || audio.map { Self.parse($0).device != nil || $0.contains("://") } ?? false
        let next = { try paired.map { try $0.next() } ?? stream.next() }
        var detections: [Detection] = []
        var dropped = 0, snapshots = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func record() -> SessionRecord {
            SessionRecord(source: input!, started: started, duration: watcher.position, detections: detections, dropped: dropped)
        }
        var annotated: AnnotatedVideo?
        var latest: Detection?
        var failure: Error?
        do {
            if let out {
                guard let size = stream.videoSize else { throw MediaError.noVideoStream(source) }
                annotated = try AnnotatedVideo(path: out, width: size.width, height: size.height, frameRate: stream.frameRate,
                                               sampleRate: watcher.trained.mel.sampleRate, audio: paired != nil || stream.hasAudio)
            }
            func handle(_ due: Double) throws {
                // Paced input that the model cannot keep up with loses windows rather than falling behind.
                if (realtime || live) && Date().timeIntervalSince(started) > due + 1 / rate {
                    dropped += 1
                    return
                }
                let detection = try watcher.predict(at: due)
                detections.append(detection)
                latest = detection
                print(String(decoding: try encoder.encode(detection), as: UTF8.self))
                fflush(stdout)
                if isatty(2) != 0 {
                    let elapsed = Date().timeIntervalSince(started)
                    FileHandle.standardError.write(Data(String(format: "\r%7.1f s  real-time factor %.2f  %@ %.2f (%@)  dropped %d   ", watcher.position,
                                                               watcher.position / max(elapsed, 1e-9), detection.emotion, detection.confidence,
                                                               detection.mode, dropped).utf8))
                }
            }
            while !control.stopRequested, let event = try next() {
                if realtime && !live {
                    let time: Double
                    switch event { case .video(let t, _), .audio(let t, _): time = t }
                    let wait = time - Date().timeIntervalSince(started)
                    if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
                }
                for due in try watcher.feed(event) { try handle(due) }
                if let annotated {
                    switch event {
                    case .video(_, let image): try annotated.append(frame: image, box: watcher.latestBox, detection: latest)
                    case .audio(_, let samples): try annotated.append(samples: samples)
                    }
                }
                if control.takeSnapshotRequest() {
                    snapshots += 1
                    try record().write(to: session)
                    if let frame = watcher.latestFrame {
                        try JPEGFile.write(frame, to: (session as NSString).deletingPathExtension + "-snapshot-\(snapshots).jpg")
                    }
                    FileHandle.standardError.write(Data("\nsnapshot \(snapshots): \(session) at \(String(format: "%.1f", watcher.position)) s\n".utf8))
                }
            }
            // The end of the input: the windows it completed for one modality and not yet the other.
            if !control.stopRequested { for due in watcher.finish() { try handle(due) } }
        } catch {
            failure = error
        }
        try record().write(to: session)
        if let annotated {
            do { try annotated.finish() } catch { failure = failure ?? error }
        }
        let elapsed = Date().timeIntervalSince(started)
        let summary = record().emotionStatistics
        let ending = control.stopRequested ? "stopped" : failure == nil ? "the input ended" : "the input stopped"
        FileHandle.standardError.write(Data(String(format: "\n%@ at %.1f s: %d predictions (dominant %@, mean confidence %.2f), %d windows dropped, real-time factor %.2f; record: %@\n",
                                                   ending, watcher.position, detections.count, summary.dominantEmotion ?? "none", summary.averageConfidence,
                                                   dropped, watcher.position / max(elapsed, 1e-9), session).utf8))
        if let failure {
            FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// `KIND:NAME` for a device kind libavdevice knows (v4l2, alsa, pulse, ...; any of a kind's comma-separated names,
    /// as `video4linux2,v4l2`), else a file or URL as given.
    static func parse(_ input: String) -> (source: String, device: String?) {
        guard !input.contains("://"), let colon = input.firstIndex(of: ":") else { return (input, nil) }
        let kind = input[..<colon]
        guard MediaStream.deviceKinds().contains(where: { $0.kind.split(separator: ",").contains(kind) }) else { return (input, nil) }
        return (String(input[input.index(after: colon)...]), String(kind))
    }
}

/// What a person (keys at a terminal) or another process (SIGINT, SIGUSR1) asks of a running session, read by the loop
/// between events.
final class SessionControl: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false, snapshot = false
    private var sources: [DispatchSourceSignal] = []
    private var saved: termios?

    var stopRequested: Bool { lock.withLock { stopping } }

    func takeSnapshotRequest() -> Bool {
        lock.withLock {
            defer { snapshot = false }
            return snapshot
        }
    }

    func start() {
        for (signal, action) in [(SIGINT, { self.lock.withLock { self.stopping = true } }), (SIGUSR1, { self.lock.withLock { self.snapshot = true } })] {
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            sources.append(source)
        }
        guard isatty(0) != 0 else { return }
        var settings = termios()
        tcgetattr(0, &settings)
        saved = settings
        settings.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(0, TCSANOW, &settings)
        Thread.detachNewThread { [self] in
            var byte: UInt8 = 0
            while read(0, &byte, 1) == 1 {
                if byte == UInt8(ascii: "q") { lock.withLock { stopping = true } }
                if byte == UInt8(ascii: "s") { lock.withLock { snapshot = true } }
            }
        }
    }

    func stop() {
        for source in sources { source.cancel() }
        if var saved { tcsetattr(0, TCSANOW, &saved) }
    }
}
