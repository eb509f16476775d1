import AudioFeatures
import Corpora
import Faces
import Meld
import Pipeline
import Synthesis
import Training
import Evaluation
import ModelContract
import Tensor

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
        .int("utterances", \.utterancesPerDialogue, help: "utterances per dialogue").bounded(1),
        .int("width", \.width, help: "frame width (even); MELD's is 1280").bounded(64),
        .int("height", \.height, help: "frame height (even); MELD's is 720").bounded(64),
        .int("fps", \.frameRate, help: "frames per second").bounded(1, 120),
        .strings("labels", \.labels, help: "the emotions drawn, in class order: MELD's seven or some of them"),
        .doubles("label_weights", \.labelWeights, help: "relative frequency of each label, or of each of MELD's seven emotions").bounded(0),
        .double("visual_signal", \.visualSignal, help: "probability that the face shows the label").bounded(0, 1),
        .double("audio_signal", \.audioSignal, help: "probability that the voice carries the label").bounded(0, 1),
        .bool("mask_absent", \.maskAbsent, help: "a channel that does not carry the label shows neutral, not a random emotion"),
        .bool("faults", \.plantFaults, help: "plant MELD's faults (missing, truncated, silent, unannotated clips; legacy text)"),
        .choice("layout", \.layout, help: "the folder layout: meld, crema-d, ravdess, iemocap (utterance WAVs) or csv (a folder and labels.csv)"),
        .int("actors", \.actors, help: "a corpus layout's actors (each performs every emotion 'takes' times)").bounded(1),
        .int("takes", \.takes, help: "a corpus layout's performances of each emotion by each actor").bounded(1),
        .int("people", \.people, help: "people in view: 1, or 2 (a listener beside the speaker, at random the larger and more central; cuts to the listener alone; a portrait on the wall)").bounded(1, 2),
    ]
}

extension ProbeSettings: StageSettings {
    public static let fields: [SettingsField<ProbeSettings>] = [
        .double("silence_db", \.silenceDB, help: "audio whose RMS is below this (dBFS) is silent"),
    ]
}

extension CleaningParams: StageSettings {
    public static let fields: [SettingsField<CleaningParams>] = [
        .double("max_duration", \.maxDuration, help: "utterances longer than this (s) are flagged").bounded(0.001),
        SettingsField("deny", .list(.string), help: "clip ids to drop: dia125_utt3 or train/dia125_utt3",
                      read: { .list($0.denyList.sorted().map(ParamValue.string)) },
                      write: { $0.denyList = Set($1.listValue.map(\.stringValue)) }),
        .bool("prefer_final_videos", \.preferFinalVideos, help: "in test, the final_videos_test* copy wins"),
        .strings("labels", \.labels, help: "the classes kept, in class order (the model's outputs): MELD's emotions or some of them"),
    ]
}

/// The split rule's params, the same in every corpus kind.
private func splitFields<Settings>(_ rule: WritableKeyPath<Settings, SplitRule>) -> [SettingsField<Settings>] {
    [
        .int("seed", rule.appending(path: \.seed), help: "shuffles the speakers before they are dealt to splits"),
        .doubles("ratios", rule.appending(path: \.ratios), help: "shares of speakers in train, dev, test (when 'folds' is 0)").bounded(0),
        .int("folds", rule.appending(path: \.folds), help: "0: split by 'ratios'; K: speakers (IEMOCAP: sessions) dealt into K folds").bounded(0),
        .int("fold", rule.appending(path: \.fold), help: "the fold tested (the next one is dev), 1 to 'folds'").bounded(1),
    ]
}

extension CremaDSettings: StageSettings {
    public static let fields: [SettingsField<CremaDSettings>] = [
        .strings("labels", \.labels, help: "the labels kept, in class order (empty: anger, disgust, fear, happy, neutral, sad)"),
    ] + splitFields(\.split)
}

extension RavdessSettings: StageSettings {
    public static let fields: [SettingsField<RavdessSettings>] = [
        .strings("labels", \.labels, help: "the labels kept, in class order (empty: all eight)"),
        .choice("modality", \.modality, help: "which copy of a performance: auto (audio-visual, else audio only), av, video, audio"),
        .choice("channel", \.channel, help: "speech, song or both"),
    ] + splitFields(\.split)
}

extension IemocapSettings: StageSettings {
    public static let fields: [SettingsField<IemocapSettings>] = [
        .int("classes", \.classes, help: "4 (neutral, happy+excited, angry, sad) or 6 (neutral, happy, angry, sad, excited, frustrated)"),
        .bool("video", \.video, help: "each utterance's picture from its dialogue's video (dialog/avi/DivX/DIALOG.avi) over its interval, as a .clip reference with its WAV"),
    ] + splitFields(\.split)
}

extension LabelsFileSettings: StageSettings {
    public static let fields: [SettingsField<LabelsFileSettings>] = [
        .string("file", \.file, help: "the labels CSV (file,label[,split,speaker,start,end]); paths in it are relative to its folder"),
        .strings("labels", \.labels, help: "the labels kept, in class order (empty: every label the CSV uses, sorted)"),
    ] + splitFields(\.split)
}

extension FaceSettings: StageSettings {
    public static let fields: [SettingsField<FaceSettings>] = [
        .int("frames", \.frames, help: "frames sampled uniformly over each clip").bounded(1),
        .int("max_side", \.maxSide, help: "detect on a copy whose longer side is at most this (0: full size)").bounded(0),
        .choice("detector", \.detector, help: "hog (dlib's HOG), hog+cnn (MTCNN on frames where HOG finds no face) or cnn (MTCNN alone)"),
        .string("cnn_weights", \.cnnWeights, help: "SHA-256 of MTCNN's weights file (make setup fetches facenet-pytorch 2.6.0's; EMOTION_MTCNN_WEIGHTS names another)"),
        .int("cnn_min_face", \.cnnMinimumFace, help: "smallest face MTCNN looks for, in pixels of the max_side copy").bounded(12),
        .int("size", \.size, help: "chip side in pixels").bounded(16),
        .double("padding", \.padding, help: "dlib's chip padding around the landmarks").bounded(0),
        .string("predictor", \.predictor, help: "dlib's 68-point landmark model"),
        .choice("speaker", \.speaker, help: "which of several faces: active (the one whose lips move with the voice; else the largest, saying why) or largest (the largest and most central)"),
        .int("analysis_fps", \.analysisRate, help: "frames per second decoded to follow lips where a clip shows several faces").bounded(2),
        .int("analysis_detect_every", \.analysisDetectEvery, help: "of those frames, the detector searches every this many (and each shot's first and last); landmarks follow the faces between").bounded(1),
    ]
}

extension FaceFeatureSettings: StageSettings {
    public static let fields: [SettingsField<FaceFeatureSettings>] = [
        .string("init", \.initFile, help: "the state dictionary holding the trunk: STAGE/FILE of a stage in deps, or a path listed in deps"),
        .string("init_prefix", \.initPrefix, help: "prefix put before the file's names to give the model's (visual.backbone. for torchvision's resnet18)"),
        .bool("flip", \.flip, help: "also cache the features of the frames flipped left to right (training's flip augmentation)"),
        .int("threads", \.threads, help: "engine threads, fixed so that the features are the same bytes on any machine").bounded(1),
        .choice("precision", \.precision, help: precisionHelp),
    ]
}

extension LogMelConfig: StageSettings {
    public static let fields: [SettingsField<LogMelConfig>] = [
        .int("sample_rate", \.sampleRate, help: "audio is resampled to this rate (Hz)").bounded(1),
        .int("n_fft", \.fftSize, help: "FFT size").bounded(2),
        .int("win_length", \.windowLength, help: "Hann window length, zero-padded to n_fft").bounded(1),
        .int("hop_length", \.hopLength, help: "samples between frames").bounded(1),
        .int("n_mels", \.melBands, help: "mel bands").bounded(1),
        .double("fmin", \.minFrequency, help: "lowest mel frequency (Hz)").bounded(0),
        .double("fmax", \.maxFrequency, help: "highest mel frequency (Hz)").bounded(0),
        .double("top_db", \.topDB, help: "values are floored at the clip's maximum minus this").bounded(0),
    ]
}

extension TrainingSettings: StageSettings {
    public static let fields: [SettingsField<TrainingSettings>] = [
        .choice("fusion", \.fusion, help: "how face and voice are combined, or one of them alone (docs/MODEL.md)"),
        .int("epochs", \.epochs, help: "passes over the training split").bounded(1),
        .int("batch", \.batch, help: "clips per worker per step").bounded(1),
        .int("workers", \.workers, help: "worker processes, one per device, exchanging gradients through shared memory").bounded(1, 64),
        .int("threads", \.threads, help: "engine threads per worker (0: the machine's cores shared among the workers)").bounded(0),
        .double("lr_visual", \.learningRateVisual, help: "learning rate of visual.*").bounded(0),
        .double("lr_audio", \.learningRateAudio, help: "learning rate of audio.*").bounded(0),
        .double("lr_other", \.learningRateOther, help: "learning rate of the fusion and the classifier").bounded(0),
        .double("weight_decay", \.weightDecay, help: "Adam's L2 weight decay").bounded(0),
        .int("warmup", \.warmup, help: "optimiser steps of linear warm-up before the cosine").bounded(0),
        .double("label_smoothing", \.labelSmoothing, help: "cross-entropy label smoothing").bounded(0, 1, belowMaximum: true),
        SettingsField("class_weights", .oneOf([.choice(ClassWeights.choices), .list(.double)]),
                      help: "none, balanced (from the training split's counts), or one number per class in class order",
                      read: { settings in
                          guard case .given(let values) = settings.classWeights else { return .string(settings.classWeights.description) }
                          return .list(values.map(ParamValue.double))
                      },
                      write: { settings, value in
                          if case .list(let values) = value { settings.classWeights = .given(values.map(\.doubleValue)) }
                          else { settings.classWeights = value.stringValue == "balanced" ? .balanced : .none }
                      }).bounded(0),
        .double("dropout", \.dropout, help: "dropout probability").bounded(0, 1, belowMaximum: true),
        .double("clip_norm", \.clipNorm, help: "global gradient-norm bound (0: none)").bounded(0),
        .int("seed", \.seed, help: "initial weights, data order, augmentation and dropout follow from it"),
        .int("checkpoint_every", \.checkpointEvery, help: "a checkpoint every this many steps, besides each epoch's end (0: epoch ends only)").bounded(0),
        .int("patience", \.patience, help: "stop after this many epochs without a better dev weighted F1 (0: never)").bounded(0),
        .string("init", \.initPath, help: "safetensors state dictionaries to start from, comma-separated: a path (list it under deps too, so its content is in the key) or STAGE/FILE of a stage in deps"),
        .string("init_prefix", \.initPrefix, help: "prefix put before the init files' names (visual.backbone. for torchvision's resnet18)"),
        .string("init_only", \.initOnly, help: "comma-separated prefixes of the model's names the init files may set (empty: all), e.g. visual.,audio."),
        .string("freeze", \.freeze, help: "comma-separated prefixes of parameter names kept as init left them, e.g. visual.backbone. (their BatchNorm in eval mode)"),
        .int("mel_frames", \.melFrames, help: "mel frames per clip (Ta), at least 8: longer clips are cropped, shorter padded").bounded(8),
        .double("flip", \.flip, help: "chance of flipping a clip's frames left to right").bounded(0, 1),
        .double("brightness", \.brightness, help: "brightness offset drawn from [-b, b]").bounded(0),
        .double("contrast", \.contrast, help: "contrast factor drawn from [1 - c, 1 + c]").bounded(0, 1),
        .int("time_mask", \.timeMask, help: "up to this many mel frames masked (0: off)").bounded(0),
        .int("freq_mask", \.frequencyMask, help: "up to this many mel bands masked (0: off)").bounded(0),
        .int("max_steps", \.maxSteps, help: "stop after this many steps in all (0: every epoch)").bounded(0),
        .bool("digests", \.digests, help: "write each worker's parameter digest after every step (digests/rank-R.txt)"),
        SettingsField("precision", .choice(PrecisionSetting.allCases.map(\.rawValue)), help: precisionHelp + "; fp32 master weights, Adam state and exchange either way",
                      read: { .string(($0.precision ?? .fp32).rawValue) }, write: { $0.precision = PrecisionSetting(rawValue: $1.stringValue) }),
    ]
}

extension TrainingLaunch: StageSettings {
    public static let fields: [SettingsField<TrainingLaunch>] = [
        SettingsField.choice("launcher", \.launcher, help: "local (worker processes on this machine) or mpi (MPI ranks on several machines)").executionOnly(),
        SettingsField.int("nodes", \.nodes, help: "machines under launcher: mpi, workers / nodes on each (joined by MPI, shared memory within each)").executionOnly().bounded(1),
        SettingsField.string("mpi_command", \.command, help: "the MPI launcher and its options, e.g. mpirun --hostfile hosts, or srun").executionOnly(),
    ]
}

extension EvaluationSettings: StageSettings {
    public static let fields: [SettingsField<EvaluationSettings>] = [
        .choice("model", \.model, help: "the best dev epoch's weights, or the last"),
        SettingsField("splits", .list(.string), help: "the splits to evaluate", read: { .list($0.splits.map(ParamValue.string)) },
                      write: { $0.splits = $1.listValue.map(\.stringValue) }),
        .int("batch", \.batch, help: "clips per forward pass").bounded(1),
        .int("bootstrap", \.bootstrapSamples, help: "bootstrap resamples for the 95 % intervals").bounded(1),
        .int("seed", \.seed, help: "the bootstrap's seed"),
        .int("threads", \.threads, help: "engine threads, fixed so that the probabilities are the same bytes on any machine").bounded(1),
        .choice("precision", \.precision, help: precisionHelp),
    ]
}

extension ResultsSettings: StageSettings {
    public static let fields: [SettingsField<ResultsSettings>] = [
        .string("split", \.split, help: "the split the table reports"),
        .int("bootstrap", \.bootstrapSamples, help: "bootstrap resamples for the intervals and the paired differences").bounded(1),
        .int("seed", \.seed, help: "the bootstrap's seed"),
        .strings("not_run", \.notRun, help: "models this pipeline does not run on its data, each 'MODEL: why', listed under the table"),
    ]
}

private let precisionHelp = "the convolutions' and matrix products' operands: fp32, bf16 (fp32 sums; refused where the CPU lacks AVX512_BF16 and AMX) or auto (bf16 where the CPU has it)"

/// The precision a stage computes in on this machine; bf16 where the CPU cannot is an error naming the stage.
func resolvedPrecision(_ setting: PrecisionSetting, stage: String) throws -> Precision {
    do { return try setting.resolved() }
    catch { throw PipelineError(.badParam, "stage '\(stage)': \(error)") }
}
