"""make bench-synth: clips per second that `emotion synth` generates (speech, drawing, H.264/AAC encoding) at
640x360 and 1280x720 on all cores, the best of ROUNDS. Clips last as long as their sentence (about 2-4 s);
the mean is printed beside the rate. Last line: JSON."""
import csv
import os
import shutil

from benchlib import ROOT, ROUNDS, best, build, report, say

emotion = build("emotion")
work = os.path.join(ROOT, "data", "bench", "synth")


def seconds(stamp):
    hours, minutes, rest = stamp.split(":")
    whole, fraction = rest.split(",")
    return int(hours) * 3600 + int(minutes) * 60 + int(whole) + float("0." + fraction)


figures = {"rounds": ROUNDS}
for width, height, dialogues in ((640, 360, 6), (1280, 720, 2)):
    out = os.path.join(work, f"{width}x{height}")
    command = [emotion, "synth", "--out", out, "--width", str(width), "--height", str(height),
               "--dialogues", f"{dialogues},0,0", "--utterances", "5", "--no-faults"]
    fastest, _ = best({"synth": command}, before=lambda _: shutil.rmtree(out, ignore_errors=True))
    with open(os.path.join(out, "train_sent_emo.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    mean = sum(seconds(row["EndTime"]) - seconds(row["StartTime"]) for row in rows) / len(rows)
    rate = len(rows) / fastest["synth"]
    say(f"{width}x{height}: {rate:.2f} clips/s (mean clip {mean:.2f} s)")
    figures[f"clips_per_s_{width}x{height}"] = rate
    figures[f"mean_clip_s_{width}x{height}"] = mean
report(figures)
