import Meld
import SeededRandom
import Speech

/// How a generated speaker sounds at rest: fixed for all of their clips.
public struct VoiceIdentity: Sendable {
    public var voice: String
    public var pitch: Int
    public var rate: Int

    public static func random(_ random: inout SeededRandom, index: Int) -> VoiceIdentity {
        let variants = ["m1", "f1", "m3", "f2", "m2", "f3", "m4", "f4"]
        return VoiceIdentity(voice: "en+" + variants[index % variants.count], pitch: Int(random.uniform(35, 60)), rate: Int(random.uniform(150, 180)))
    }

    /// The prosody that carries `emotion` in this voice: rate, pitch, pitch range and loudness move together
    /// the way acted emotional speech does (sadness slow, low and flat; anger fast and loud; surprise high and wide).
    public func prosody(for emotion: Emotion) -> Prosody {
        let (rateFactor, pitchShift, range, volume): (Double, Int, Int, Int)
        switch emotion {
        case .neutral: (rateFactor, pitchShift, range, volume) = (1.0, 0, 35, 100)
        case .joy: (rateFactor, pitchShift, range, volume) = (1.1, 15, 85, 120)
        case .sadness: (rateFactor, pitchShift, range, volume) = (0.72, -18, 10, 65)
        case .anger: (rateFactor, pitchShift, range, volume) = (1.18, 5, 60, 175)
        case .surprise: (rateFactor, pitchShift, range, volume) = (1.0, 28, 100, 130)
        case .fear: (rateFactor, pitchShift, range, volume) = (1.35, 22, 25, 85)
        case .disgust: (rateFactor, pitchShift, range, volume) = (0.82, -10, 55, 105)
        }
        return Prosody(rate: max(80, min(450, Int(Double(rate) * rateFactor))), pitch: max(0, min(100, pitch + pitchShift)),
                       range: range, volume: volume, voice: voice)
    }
}

/// Lines for the generated dialogues: everyday sentences with MELD's mix of curly and straight apostrophes.
enum Sentences {
    static let lines = [
        "I can’t believe you did that.", "Where were you last night?", "That's the best news I've heard all week!",
        "We need to talk about the apartment.", "Oh my God, is that really him?", "I don’t want to go back there.",
        "You ate the whole thing, didn't you?", "Okay, that's it, I’m leaving.", "Wait, what did you just say?",
        "This is the worst day of my life.", "Could you pass me the coffee, please?", "I think someone is outside the door.",
        "Honestly, that smells terrible.", "We won! We actually won!", "Fine, whatever, do what you want.",
        "Are you sure it's safe up there?", "I’ve been waiting here for an hour.", "Look at this, it’s a letter from Mom.",
        "No, no, no, that is not what happened.", "Let’s just order pizza tonight.", "You’re kidding, right?",
        "I miss the way things used to be.", "Get out of my room, now!", "Well, I guess that's that.",
    ]

    static let openers = ["", "Oh, ", "Well, ", "Okay, ", "Honestly, ", "Wait, ", "Look, ", "So, "]
    static let tails = ["", " Seriously.", " Right now.", " Again.", " I mean it.", " Don’t you think?"]

    /// A line: an opener, a core sentence and a tail, so that dialogues rarely repeat each other's lines
    /// (which `clean` would rightly report as a repeated scene).
    static func line(_ random: inout SeededRandom) -> String {
        let opener = openers[Int(random.next() % UInt64(openers.count))]
        var core = lines[Int(random.next() % UInt64(lines.count))]
        if !opener.isEmpty, let first = core.first, !core.hasPrefix("I ") && !core.hasPrefix("I’") && !core.hasPrefix("I'") {
            core = first.lowercased() + core.dropFirst()
        }
        return opener + core + tails[Int(random.next() % UInt64(tails.count))]
    }

    static let speakers = ["Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan"]
}
