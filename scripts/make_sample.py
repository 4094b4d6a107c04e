"""Generate assets/sample_reviews.csv: review-like texts with 1-5 stars, deterministic, under 2 MB.

The texts are built from phrase templates whose tone follows the star loosely, as in real reviews
(neighbouring stars read alike, mixed and sarcastic reviews, near-duplicates rated differently), so the
default job learns them to about real data's accuracy; the file also carries every messy case the cleaner must handle (empty and whitespace-only
texts, bad labels, exact and text-only duplicates, conflicting labels, newlines, quotes, emoji).

    python scripts/make_sample.py [--rows 3000] [--out assets/sample_reviews.csv]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

APPS = ["com.notes.quick", "org.weather.daily", "com.fit.tracker", "net.music.stream", "com.photo.editor",
        "org.maps.offline", "com.bank.mobile", "net.chat.secure"]
FEATURES = ["sync", "dark mode", "widget", "search", "backup", "notifications", "login", "export",
            "offline mode", "the new update", "the editor", "playback", "the map", "support"]
PHRASES = {
    1: ["Terrible app", "Crashes every time I open it", "Completely useless", "Waste of time",
        "Deleted it after a day", "Worst update ever", "Nothing works anymore", "Do not install"],
    2: ["Pretty bad", "Lots of bugs", "Disappointing", "Used to be better", "Too many ads",
        "Slow and clunky", "Hard to use", "Not worth it"],
    3: ["It's okay", "Average app", "Does the job, barely", "Some good, some bad", "Mixed feelings",
        "Decent but needs work", "Fine I guess", "Nothing special"],
    4: ["Good app", "Works well", "Pretty useful", "Nice design", "Almost perfect",
        "Really handy", "Solid app", "Happy with it"],
    5: ["Excellent!", "Love this app", "Perfect, exactly what I needed", "Best app ever",
        "Amazing work", "Five stars, no doubt", "Fantastic", "Absolutely brilliant"],
}
DETAILS = {
    1: ["{f} is broken", "{f} never works", "lost all my data after {f} failed", "{f} drains the battery"],
    2: ["{f} is buggy", "{f} is slow", "{f} keeps failing", "{f} got worse"],
    3: ["{f} is fine", "{f} could be better", "{f} works sometimes", "{f} is so-so"],
    4: ["{f} works nicely", "{f} is handy", "{f} is mostly reliable", "I like {f}"],
    5: ["{f} is perfect", "{f} is flawless", "{f} saved me hours", "{f} is a joy to use"],
}
EXTRAS = ["", "", "", " 👍", " 😡", " 🙂", " ❤️", " — merci!", " ¡Genial!", " 谢谢", "!!", "..."]


# Real star ratings are noisy: neighbouring stars read alike, people write one thing and click
# another, praise is sarcastic, and most reviews are mixed. Without that the default job reaches 100%
# and the charts, Compare and class weighting have nothing to show. The knobs below put the default
# linear job near real reviews' accuracy (60-75%), which is what a newcomer should see.
TONE_NOISE = 0.7      # spread of the written tone around the star (in stars)
MIXED = 0.30           # a review with one part from a different tone
SARCASM = 0.05         # praise phrases meaning a 1-2 star review
NEAR_DUPLICATE = 0.06  # an earlier review reworded slightly, with another star
SARCASTIC = ["Great, another update that breaks {f}", "Love how {f} stops working every week",
             "Five stars for making {f} worse", "Amazing, {f} is gone again", "Perfect, if you enjoy {f} failing",
             "Brilliant idea to hide {f}", "Thanks for ruining {f}"]
BUTS = [" but ", ". However ", ", although ", ". Still, ", ". On the other hand "]


def tone(rng: random.Random, star: int) -> int:
    """The star the words sound like: usually the star, often a neighbour, sometimes further."""
    return min(5, max(1, round(rng.gauss(star, TONE_NOISE))))


def review(rng: random.Random, star: int) -> str:
    if star <= 2 and rng.random() < SARCASM * 4:
        parts = [rng.choice(SARCASTIC).format(f=rng.choice(FEATURES))]
    else:
        parts = [rng.choice(PHRASES[tone(rng, star)])]
    for _ in range(rng.randint(0, 2)):
        parts.append(rng.choice(DETAILS[tone(rng, star)]).format(f=rng.choice(FEATURES)))
    text = parts[0]
    for part in parts[1:]:
        text += (" " if text[-1] in ".!?" else ". ") + part
    if rng.random() < MIXED:  # mixed: the other side of the story
        other = rng.choice([s for s in PHRASES if s != star])
        detail = rng.choice(DETAILS[other]).format(f=rng.choice(FEATURES))
        text += rng.choice(BUTS) + detail[0].lower() + detail[1:]
    text += rng.choice(EXTRAS)
    if rng.random() < 0.03:
        text = text.replace(". ", ".\n", 1)          # embedded newline
    if rng.random() < 0.03:
        text = f'The "{rng.choice(FEATURES)}" thing: ' + text  # quotes inside a field
    return text


def reword(rng: random.Random, text: str) -> str:
    """A near-duplicate: the same review with a small change (case, punctuation, a word)."""
    choice = rng.randrange(4)
    if choice == 0:
        return text.lower()
    if choice == 1:
        return text.rstrip(".!") + rng.choice(["!", ".", " :)", " honestly", " tbh"])
    if choice == 2:
        return "Update: " + text
    return text.replace(" is ", " is really ", 1) if " is " in text else text + " Really."


def rows(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    weights = [0.22, 0.08, 0.10, 0.20, 0.40]  # app stores skew to 1 and 5 stars
    start = datetime(2024, 1, 1)
    out = []
    for _ in range(n):
        star = rng.choices(range(1, 6), weights)[0]
        when = (start + timedelta(minutes=rng.randint(0, 300 * 24 * 60))).strftime("%Y-%m-%d %H:%M")
        if out and rng.random() < NEAR_DUPLICATE:  # near-duplicate of an earlier review, a neighbouring star
            app, text, _, old = rng.choice(out)
            star = min(5, max(1, int(old) + rng.choice([-1, 1])))
            out.append([app, reword(rng, text), when, str(star)])
            continue
        out.append([rng.choice(APPS), review(rng, star), when, str(star)])
    messy = [
        ["com.notes.quick", "", "2024-03-01 10:00", "5"],
        ["com.notes.quick", "   ", "2024-03-01 10:01", "1"],
        ["com.fit.tracker", "\t\n", "2024-03-02 11:00", "3"],
        ["org.weather.daily", "Great widget", "2024-03-03 09:00", "five"],
        ["org.weather.daily", "Okay-ish forecast", "2024-03-03 09:05", "4.5"],
        ["org.weather.daily", "Broken since update", "2024-03-03 09:06", "0"],
        ["org.weather.daily", "Unbelievable", "2024-03-03 09:07", "6"],
        ["org.weather.daily", "No rating given", "2024-03-03 09:08", ""],
        ["net.music.stream", "Good", "2024-04-01 12:00", "5"],
        ["net.music.stream", "Good", "2024-04-01 12:00", "5"],       # exact duplicate
        ["net.music.stream", "Good", "2024-04-02 08:30", "5"],       # same text and label
        ["net.music.stream", "Good", "2024-04-03 08:30", "1"],       # same text, other label
        ["com.bank.mobile", "Nice app", "2024-05-01 18:00", "4"],
        ["com.bank.mobile", "Nice app", "2024-05-02 18:00", "4"],
        ["com.bank.mobile", "Nice app", "2024-05-03 18:00", "2"],
        ["com.photo.editor", "5.0", "2024-05-04 07:00", "5.0"],      # 5.0 is a valid 5
        ["com.photo.editor", "Filters are great 😍😍", "2024-05-04 07:01", " 5 "],
    ]
    for row in messy:
        out.insert(rng.randrange(len(out) + 1), row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets" / "sample_reviews.csv")
    args = parser.parse_args()
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["package_name", "review", "date", "star"])
    writer.writerows(rows(args.rows, args.seed))
    data = buf.getvalue().encode("utf-8")
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
