import Foundation
import Speech

// One utterance in a fresh process (see SpeechSynthesizer): arguments VOICE RATE PITCH RANGE VOLUME TEXT; standard
// output the sample rate and samples (SpeechRequest); an error on standard error and exit 1.
guard let request = SpeechRequest(arguments: Array(CommandLine.arguments.dropFirst())) else {
    FileHandle.standardError.write(Data("usage: emotion-speak VOICE RATE PITCH RANGE VOLUME TEXT\n".utf8))
    exit(2)
}
do {
    let spoken = try SpeechEngine.speakOnce(request)
    try FileHandle.standardOutput.write(contentsOf: SpeechRequest.encode(samples: spoken.samples, sampleRate: spoken.sampleRate))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
