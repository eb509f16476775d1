import Dispatch
import Foundation
import Media

/// One `emotion watch` session: a trained model on a file, a stream or a device (with, optionally, the sound of a
/// second source) as it plays. It owns the loop: events are read in one pass and fed to the `Watcher`, due predictions
/// are made (or, on paced input the model cannot keep up with, dropped and counted), the annotated video is written as
/// it goes, snapshots are taken when asked, and the session record is written at the end whatever the ending.
public final class WatchSession {
    public struct Settings: Sendable {
        /// Predictions per second of input.
        public var rate = 2.0
        /// A file is played at its own pace (streams and devices always are); otherwise as fast as it decodes.
        public var realtime = false
        public var threads = ProcessInfo.processInfo.activeProcessorCount
        /// Where the session record goes; snapshots' JPEGs go beside it.
        public var record = "session.json"
        /// The annotated video (MP4, audio kept), if wanted.
        public var annotated: String?
        /// Seconds a network input may go without data (while connecting too) before the session ends.
        public var timeout = 10.0
        public var precision = ServingPrecision.fp32
        /// Of the frames followed, the detector searches every this many; nil, as the model's faces stage did.
        public var detectEvery: Int?

        public init() {}
    }

    /// How a session ended.
    public enum Ending: String, Sendable {
        case stopped
        case inputEnded = "the input ended"
        case inputFailed = "the input stopped"
    }

    public let trained: TrainedModel
    public let input: String
    public let audio: String?
    public let settings: Settings
    public private(set) var detections: [Detection] = []
    /// Windows that came due while the model was still busy with an earlier one, on paced input.
    public private(set) var dropped = 0
    public private(set) var started = Date()
    /// When the input was open and playing began: paced input is measured from here, so that connecting, opening a
    /// device and loading the detector do not make the first windows look late (and dropped).
    private var playing = Date()
    /// The input once opened, with the `Watcher` made for what it carries.
    private var opened: (stream: MediaStream, paired: PairedStreams?, watcher: Watcher, live: Bool)?
    private var latest: Detection?
    private var snapshots = 0

    /// Opens the model; the input (`KIND:NAME` for a device libavdevice knows, else a file or URL) and `audio`, the
    /// source whose sound replaces the input's, are opened by `run`, so that a session that never connects still ends
    /// with its record.
    public init(model: String, input: String, audio: String?, settings: Settings) throws {
        trained = try TrainedModel(folder: model, precision: settings.precision)
        self.input = input
        self.audio = audio
        self.settings = settings
    }

    /// Seconds of input seen.
    public var position: Double { opened?.watcher.position ?? 0 }

    /// What the session has seen so far, in the reference system's record format.
    public var record: SessionRecord {
        SessionRecord(source: input, classes: trained.classes, started: started, duration: position, detections: detections, dropped: dropped,
                      precision: trained.precision)
    }

    /// Seconds of input per second of wall time so far.
    public var realTimeFactor: Double { position / max(Date().timeIntervalSince(started), 1e-9) }

    /// Plays the input to its end or until `control` asks to stop, handing each prediction to `report` as it is made.
    /// The record is written in every case; the error that stopped the input, if any, is returned with the ending.
    public func run(control: SessionControl, report: (Detection) -> Void) -> (ending: Ending, failure: Error?) {
        started = Date()
        var failure: Error?
        var annotated: AnnotatedVideo?
        do {
            let (stream, paired, watcher) = try open(control: control)
            annotated = try openAnnotatedVideo(stream, audio: paired != nil || stream.hasAudio)
            playing = Date()
            try play(stream: paired.map(EventSource.paired) ?? .single(stream), watcher: watcher, control: control, annotated: annotated, report: report)
        } catch {
            // A stop asked for while a read waited ends that read: the session stopped, nothing failed.
            failure = control.stopRequested ? nil : error
        }
        let ending: Ending = control.stopRequested ? .stopped : failure == nil ? .inputEnded : .inputFailed
        var record = self.record
        (record.sessionInfo.ending, record.sessionInfo.error) = (ending.rawValue, failure.map { "\($0)" })
        do { try record.write(to: settings.record) } catch { failure = failure ?? error }
        if let annotated {
            do { try annotated.finish() } catch { failure = failure ?? error }
        }
        return (ending, failure)
    }

    /// The input (and the second source of sound), each read bounded by `MediaStream`'s timeout and given up when
    /// `control` asks to stop, and the watcher for what they carry.
    private func open(control: SessionControl) throws -> (MediaStream, PairedStreams?, Watcher) {
        let (source, device) = Self.parse(input)
        let interrupted = { control.stopRequested }
        let stream = try MediaStream(source: source, device: device, sampleRate: trained.mel.sampleRate, timeout: settings.timeout, interrupted: interrupted)
        var paired: PairedStreams?
        if let audio {
            let (audioSource, audioDevice) = Self.parse(audio)
            paired = try PairedStreams(video: stream, audio: try MediaStream(source: audioSource, device: audioDevice, sampleRate: trained.mel.sampleRate,
                                                                             timeout: settings.timeout, interrupted: interrupted))
        }
        let watcher = try Watcher(trained, rate: settings.rate, video: stream.videoSize != nil, audio: paired != nil || stream.hasAudio,
                                  detectEvery: settings.detectEvery)
        watcher.threads = settings.threads
        let live = device != nil || source.contains("://") || audio.map { Self.parse($0).device != nil || $0.contains("://") } ?? false
        opened = (stream, paired, watcher, live)
        return (stream, paired, watcher)
    }

    /// The input alone, or the input's video with another source's sound.
    private enum EventSource {
        case single(MediaStream), paired(PairedStreams)
        func next() throws -> MediaStream.Event? {
            switch self { case .single(let stream): return try stream.next(); case .paired(let paired): return try paired.next() }
        }
    }

    private func openAnnotatedVideo(_ stream: MediaStream, audio: Bool) throws -> AnnotatedVideo? {
        guard let path = settings.annotated else { return nil }
        guard let size = stream.videoSize else { throw MediaError.noVideoStream(input) }
        return try AnnotatedVideo(path: path, classes: trained.classes, width: size.width, height: size.height, frameRate: stream.frameRate,
                                  sampleRate: trained.mel.sampleRate, audio: audio)
    }

    private func play(stream: EventSource, watcher: Watcher, control: SessionControl, annotated: AnnotatedVideo?, report: (Detection) -> Void) throws {
        let live = opened?.live ?? false
        while !control.stopRequested, let event = try stream.next() {
            if settings.realtime && !live { waitForItsTime(event) }
            for due in try watcher.feed(event) { try predict(due, report: report) }
            if let annotated {
                switch event {
                case .video(_, let image): try annotated.append(frame: image, box: watcher.latestBox, detection: latest)
                case .audio(_, let samples): try annotated.append(samples: samples)
                }
            }
            if control.takeSnapshotRequest() { try snapshot() }
        }
        // The end of the input: the windows it completed for one modality and not yet the other.
        if !control.stopRequested { for due in watcher.finish() { try predict(due, report: report) } }
    }

    private func waitForItsTime(_ event: MediaStream.Event) {
        let time: Double
        switch event { case .video(let t, _), .audio(let t, _): time = t }
        let wait = time - Date().timeIntervalSince(playing)
        if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
    }

    /// The prediction of the window ending at `due`; on paced input, a window come due a whole period ago is dropped so
    /// the session does not fall behind.
    private func predict(_ due: Double, report: (Detection) -> Void) throws {
        guard let (_, _, watcher, live) = opened else { return }
        if (settings.realtime || live) && Date().timeIntervalSince(playing) > due + 1 / settings.rate {
            dropped += 1
            return
        }
        let detection = try watcher.predict(at: due)
        detections.append(detection)
        latest = detection
        report(detection)
    }

    /// The record so far, and a JPEG of the current frame beside it.
    private func snapshot() throws {
        snapshots += 1
        try record.write(to: settings.record)
        if let frame = opened?.watcher.latestFrame {
            try JPEGFile.write(frame, to: (settings.record as NSString).deletingPathExtension + "-snapshot-\(snapshots).jpg")
        }
        FileHandle.standardError.write(Data("\nsnapshot \(snapshots): \(settings.record) at \(String(format: "%.1f", position)) s\n".utf8))
    }

    /// `KIND:NAME` for a device kind libavdevice knows (v4l2, alsa, pulse, ...; any of a kind's comma-separated names,
    /// as `video4linux2,v4l2`), else a file or URL as given.
    public static func parse(_ input: String) -> (source: String, device: String?) {
        guard !input.contains("://"), let colon = input.firstIndex(of: ":") else { return (input, nil) }
        let kind = input[..<colon]
        guard MediaStream.deviceKinds().contains(where: { $0.kind.split(separator: ",").contains(kind) }) else { return (input, nil) }
        return (String(input[input.index(after: colon)...]), String(kind))
    }
}

/// What a person (keys at a terminal) or another process (SIGINT, SIGUSR1) asks of a running session, read by the loop
/// between events.
public final class SessionControl: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false, snapshot = false
    private var sources: [DispatchSourceSignal] = []
    private var saved: termios?

    public init() {}

    public var stopRequested: Bool { lock.withLock { stopping } }

    public func takeSnapshotRequest() -> Bool {
        lock.withLock {
            defer { snapshot = false }
            return snapshot
        }
    }

    /// SIGINT or `q` stops; SIGUSR1 or `s` asks for a snapshot.
    public func start() {
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

    public func stop() {
        for source in sources { source.cancel() }
        if var saved { tcsetattr(0, TCSANOW, &saved) }
    }
}
