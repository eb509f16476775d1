import Foundation
import Labels
import Meld

/// CREMA-D (Cao et al. 2014): 91 actors, 12 sentences, six emotions, as `VideoFlash/*.flv` (VP6 video, MP3 audio),
/// `AudioWAV/*.wav` and `AudioMP3/*.mp3`, each named `ACTOR_SENTENCE_EMOTION_LEVEL`. A recording found as video and
/// as audio is read from the video (it has both channels); the audio copies are listed as superseded.
public enum CremaD {
    public static let name = "crema-d"
    /// The emotion codes of the names and the labels they stand for, in the layout's class order.
    public static let emotions: [(code: String, label: String)] = [("ANG", "anger"), ("DIS", "disgust"), ("FEA", "fear"), ("HAP", "happy"), ("NEU", "neutral"), ("SAD", "sad")]
    public static let levels = ["LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"]
    /// The twelve sentences, by code.
    public static let sentences: [String: String] = [
        "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened", "IOM": "I'm on my way to the meeting",
        "IWW": "I wonder what this is about", "TAI": "The airplane is almost full", "MTI": "Maybe tomorrow it will be cold",
        "IWL": "I would like a new alarm clock", "ITH": "I think I have a doctor's appointment", "DFA": "Don't forget a jacket",
        "ITS": "I think I've seen this before", "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
    ]
    static let extensions = ["flv", "mp4", "wav", "mp3"]

    /// What a CREMA-D name says, or why it is not one.
    public static func parse(_ stem: String) -> Result<(actor: String, sentence: String, emotion: String, level: String), DatasetError> {
        let fields = stem.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 4 else { return .failure(DatasetError("'\(stem)' is not ACTOR_SENTENCE_EMOTION_LEVEL (four fields joined by _)")) }
        guard fields[0].count == 4, let actor = Int(fields[0]), (1001...1091).contains(actor) else {
            return .failure(DatasetError("actor '\(fields[0])' is not 1001 to 1091"))
        }
        guard sentences[fields[1]] != nil else { return .failure(DatasetError("sentence '\(fields[1])' is not one of \(sentences.keys.sorted().joined(separator: ", "))")) }
        guard let emotion = emotions.first(where: { $0.code == fields[2] }) else {
            return .failure(DatasetError("emotion '\(fields[2])' is not one of \(emotions.map(\.code).joined(separator: ", "))"))
        }
        guard levels[fields[3]] != nil else { return .failure(DatasetError("level '\(fields[3])' is not one of LO, MD, HI, XX")) }
        return .success((fields[0], fields[1], emotion.label, fields[3]))
    }

    public static func read(_ files: [CorpusFile], labels chosen: [String], rule: SplitRule) throws -> Cleaner.Result {
        let media = files.filter { extensions.contains($0.fileExtension) }.sorted { $0.path < $1.path }
        var findings: [String: [String]] = [:], problems: [String] = []
        var byRecording: [String: [CorpusFile]] = [:], names: [String: (actor: String, sentence: String, emotion: String, level: String)] = [:]
        for file in media {
            switch parse(file.stem) {
            case .success(let name):
                byRecording[file.stem, default: []].append(file)
                names[file.stem] = name
            case .failure(let error):
                findings["bad_name", default: []].append(file.path)
                problems.append("\(file.path): \(error.description)")
            }
        }
        let entries = byRecording.keys.sorted().map { stem -> CorpusEntry in
            let file = CorpusManifests.preferred(byRecording[stem]!, preference: extensions, findings: &findings)
            let name = names[stem]!
            return CorpusEntry(file: file, label: name.emotion, speaker: name.actor, text: sentences[name.sentence]!,
                               attributes: ["sentence": name.sentence, "intensity": levels[name.level]!], source: file.path)
        }
        try CorpusManifests.requireRecognised(entries, files: files, dataset: "CREMA-D",
                                              expected: "files named ACTOR_SENTENCE_EMOTION_LEVEL.{flv,wav,mp3} (e.g. VideoFlash/1001_DFA_ANG_XX.flv)")
        return try CorpusManifests.assemble(dataset: name, entries: entries, labels: try CorpusManifests.labels(chosen, layout: emotions.map(\.label), dataset: "CREMA-D"),
                                            rule: rule, files: media, findings: findings, problems: problems)
    }
}
