import AudioFeatures
import Faces
import Meld
import Pipeline
import Synthesis

// Each stage's settings struct, declared once as params: name, where the value lives, help. Defaults are the
// structs' own, so `emotion kinds`, pipelines and the commands all read them from one place.

extension SynthesisParams: StageSettings {
    public static let fields: [SettingsField<SynthesisParams>] = [
        .int("seed", \.seed, help: "everything generated follows from it"),
        SettingsField("dialogues", .list(.int), help: "dialogues in train, dev, test",
                      read: { params in .list(Split.allCases.map { .int(params.dialogues[$0] ?? 0) }) },
                      write: { params, value in
                          let counts = value.listValue.map(\.intValue)
                          // Anything but three counts leaves no split counted, which `problem` names.
                          params.dialogues = counts.count == Split.allCases.count ? Dictionary(uniqueKeysWithValues: zip(Split.allCases, counts)) : [:]
                      }),
        .int("utterances", \.utterancesPerDialogue, help: "utterances per dialogue"),
        .int("width", \.width, help: "frame width (even); MELD's is 1280"),
        .int("height", \.height, help: "frame height (even); MELD's is 720"),
        .int("fps", \.frameRate, help: "frames per second"),
        .doubles("label_weights", \.labelWeights, help: "relative frequency of neutral, joy, sadness, anger, surprise, fear, disgust"),
        .double("visual_signal", \.visualSignal, help: "probability that the face shows the label"),
        .double("audio_signal", \.audioSignal, help: "probability that the voice carries the label"),
        .bool("faults", \.plantFaults, help: "plant MELD's faults (missing, truncated, silent, unannotated clips; legacy text)"),
    ]
}

extension ProbeSettings: StageSettings {
    public static let fields: [SettingsField<ProbeSettings>] = [
        .double("silence_db", \.silenceDB, help: "audio whose RMS is below this (dBFS) is silent"),
    ]
}

extension CleaningParams: StageSettings {
    public static let fields: [SettingsField<CleaningParams>] = [
        .double("max_duration", \.maxDuration, help: "utterances longer than this (s) are flagged"),
        SettingsField("deny", .list(.string), help: "clip ids to drop: dia125_utt3 or train/dia125_utt3",
                      read: { .list($0.denyList.sorted().map(ParamValue.string)) },
                      write: { $0.denyList = Set($1.listValue.map(\.stringValue)) }),
        .bool("prefer_final_videos", \.preferFinalVideos, help: "in test, the final_videos_test* copy wins"),
    ]
}

extension FaceSettings: StageSettings {
    public static let fields: [SettingsField<FaceSettings>] = [
        .int("frames", \.frames, help: "frames sampled uniformly over each clip"),
        .int("max_side", \.maxSide, help: "detect on a copy whose longer side is at most this (0: full size)"),
        .int("size", \.size, help: "chip side in pixels"),
        .double("padding", \.padding, help: "dlib's chip padding around the landmarks"),
        .string("predictor", \.predictor, help: "dlib's 68-point landmark model"),
    ]
}

extension LogMelConfig: StageSettings {
    public static let fields: [SettingsField<LogMelConfig>] = [
        .int("sample_rate", \.sampleRate, help: "audio is resampled to this rate (Hz)"),
        .int("n_fft", \.fftSize, help: "FFT size"),
        .int("win_length", \.windowLength, help: "Hann window length, zero-padded to n_fft"),
        .int("hop_length", \.hopLength, help: "samples between frames"),
        .int("n_mels", \.melBands, help: "mel bands"),
        .double("fmin", \.minFrequency, help: "lowest mel frequency (Hz)"),
        .double("fmax", \.maxFrequency, help: "highest mel frequency (Hz)"),
        .double("top_db", \.topDB, help: "values are floored at the clip's maximum minus this"),
    ]
}
