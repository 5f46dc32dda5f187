"""Label parsers for emotional speech corpora (stdlib + NumPy only).

Labels come from each corpus's own file names or folder layout, so no separate label file
has to be trusted or kept in sync. Every parser returns :class:`Utterance` records with the
label already spelled in the shared vocabulary (:data:`LABELS_8`, plus ``boredom`` for EmoDB);
the corpus's own code is kept in ``meta["raw_label"]``. :func:`map_label` then maps a label
onto the label set of a model (e.g. ``calm`` is scored as ``neutral`` for a corpus without
calm). Files whose names do not parse are skipped and counted, never guessed.

Used by ``edge-ser evaluate`` on the device and by ``train/``.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

#: The eight RAVDESS emotions, in RAVDESS code order (01..08).
LABELS_8: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
)

FORMATS: tuple[str, ...] = ("ravdess", "tess", "crema-d", "savee", "emodb", "nemo", "ased", "urdu",
                             "emotiontts", "folders", "csv")
#: The four emotions every corpus has: the cross-corpus (EmoBox) protocol scores these.
CORE_4: tuple[str, ...] = ("neutral", "happy", "sad", "angry")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav",)


class CorpusError(ConfigError):
    """A corpus folder is missing, empty, or none of its names can be parsed."""


@dataclass(frozen=True)
class Utterance:
    """One labelled recording. ``gender`` is ``"male"``, ``"female"`` or None (unknown)."""

    path: Path
    label: str
    speaker: str
    gender: str | None
    corpus: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Corpus:
    """The parsed utterances of one corpus, plus the files that were skipped and why."""

    root: Path
    format: str
    utterances: list[Utterance]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances}, key=_natural_key)

    @property
    def labels(self) -> list[str]:
        return sorted({u.label for u in self.utterances})

    def genders(self) -> dict[str, str | None]:
        return {u.speaker: u.gender for u in self.utterances}

    def summary(self) -> str:
        counts = Counter(u.label for u in self.utterances)
        text = (
            f"{self.format} corpus at {self.root}: {len(self.utterances)} files, "
            f"{len(self.speakers)} speakers, labels "
            + ", ".join(f"{k}={counts[k]}" for k in sorted(counts))
        )
        if self.skipped:
            examples = ", ".join(f"{p.name} ({why})" for p, why in self.skipped[:3])
            text += f"; skipped {len(self.skipped)} unparseable file(s), e.g. {examples}"
        return text


# ---- label mapping -------------------------------------------------------------------------
#: Spellings used by the corpora (and people) for the shared vocabulary.
ALIASES: dict[str, str] = {
    "neu": "neutral", "neutral": "neutral", "n": "neutral",
    "cal": "calm", "calm": "calm",
    "hap": "happy", "happy": "happy", "happiness": "happy", "joy": "happy", "h": "happy",
    "sad": "sad", "sadness": "sad", "sa": "sad",
    "ang": "angry", "angry": "angry", "anger": "angry", "a": "angry",
    "fea": "fearful", "fear": "fearful", "fearful": "fearful", "f": "fearful",
    "dis": "disgust", "disgust": "disgust", "disgusted": "disgust", "d": "disgust",
    "sur": "surprised", "surprise": "surprised", "surprised": "surprised", "su": "surprised",
    "ps": "surprised", "pleasant_surprise": "surprised", "pleasant_surprised": "surprised",
    "bor": "boredom", "boredom": "boredom", "bored": "boredom",
}

#: Where a label goes when the target label set lacks it (and why).
FALLBACKS: dict[str, tuple[str | None, str]] = {
    "calm": ("neutral", "calm scored as neutral (the target has no calm)"),
    "boredom": (None, "boredom has no counterpart in the target labels; dropped"),
}


def canonical_label(name: str) -> str:
    """The shared-vocabulary spelling of a label (``"ANG"`` → ``"angry"``), else lowercased."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def map_label(corpus_label: str, target_labels: Sequence[str]) -> tuple[str | None, str]:
    """Map a corpus label onto ``target_labels``; return ``(label or None, note)``.

    Mappings: exact or alias match (``fear`` → ``fearful``, ``ps`` → ``surprised``);
    ``calm`` → ``neutral`` when the target has no calm (RAVDESS's calm is a low-arousal
    neutral); ``boredom`` (EmoDB) and anything else absent from the target → None (dropped,
    because forcing it onto a neighbour would invent errors). The note is empty for an exact
    match and says what happened otherwise.
    """
    targets = {canonical_label(t): t for t in target_labels}
    label = canonical_label(corpus_label)
    if label in targets:
        note = "" if targets[label] == corpus_label else f"{corpus_label} → {targets[label]}"
        return targets[label], note
    if label in FALLBACKS:
        to, note = FALLBACKS[label]
        if to is None or to in targets:
            return (targets[to] if to else None), note
    return None, f"{corpus_label} is not among the target labels; dropped"


# ---- per-corpus name parsers --------------------------------------------------------------
class _Unparseable(ValueError):
    pass


_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ravdess(path: Path) -> Utterance:
    """``03-01-05-02-01-01-12.wav``: modality, channel (01 speech, 02 song), emotion 01-08,
    intensity (01 normal, 02 strong), statement, repetition, actor (odd = male)."""
    m = _RAVDESS.match(path.stem)
    if not m:
        raise _Unparseable("not a 7-part RAVDESS name")
    codes = [int(g) for g in m.groups()]
    modality, channel, emotion, intensity, statement, repetition, actor = codes
    if not 1 <= emotion <= 8:
        raise _Unparseable(f"emotion code {emotion:02d} is not 01-08")
    if channel not in (1, 2) or intensity not in (1, 2) or actor < 1:
        raise _Unparseable("channel/intensity/actor code out of range")
    meta = {
        "raw_label": f"{emotion:02d}",
        "modality": modality,
        "vocal_channel": "speech" if channel == 1 else "song",
        "intensity": "normal" if intensity == 1 else "strong",
        "statement": statement,
        "repetition": repetition,
    }
    return Utterance(path, LABELS_8[emotion - 1], f"{actor:02d}",
                     "male" if actor % 2 else "female", "ravdess", meta)


_TESS_LABELS = {"angry", "disgust", "fear", "happy", "neutral", "ps", "sad",
                "pleasant_surprise", "pleasant_surprised", "surprised"}


def parse_tess(path: Path) -> Utterance:
    """``OAF_back_angry.wav`` (speaker OAF/YAF, word, emotion; ``ps`` = pleasant surprise).

    Both TESS speakers are women. A folder such as ``OAF_angry`` must agree with the name.
    """
    parts = path.stem.split("_")
    if len(parts) < 3:
        raise _Unparseable("not SPEAKER_word_emotion")
    speaker = parts[0].upper()
    raw = "_".join(parts[2:]).lower()
    if raw not in _TESS_LABELS:
        raise _Unparseable(f"unknown TESS emotion {raw!r}")
    folder = path.parent.name.lower()
    if "_" in folder and folder.split("_", 1)[0].upper() == speaker:
        folder_label = canonical_label(folder.split("_", 1)[1])
        if folder_label != canonical_label(raw):
            raise _Unparseable(f"folder {path.parent.name} disagrees with the name")
    return Utterance(path, canonical_label(raw), speaker, "female", "tess",
                     {"raw_label": raw, "word": parts[1]})


_CREMA = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_([A-Z]{1,2})$")


def parse_crema_d(path: Path, genders: dict[str, str] | None = None) -> Utterance:
    """``1001_DFA_ANG_XX.wav``: speaker 1001-1091, sentence, emotion, level (LO/MD/HI/XX).

    Gender is not in the name: it is read from ``VideoDemographics.csv`` when present.
    """
    m = _CREMA.match(path.stem)
    if not m:
        raise _Unparseable("not SPEAKER_SENTENCE_EMOTION_LEVEL")
    speaker, sentence, emo, level = m.groups()
    if not 1001 <= int(speaker) <= 1091:
        raise _Unparseable(f"speaker {speaker} is outside 1001-1091")
    return Utterance(path, canonical_label(emo), speaker, (genders or {}).get(speaker),
                     "crema-d", {"raw_label": emo, "sentence": sentence, "level": level})


_SAVEE_SPEAKERS = {"DC", "JE", "JK", "KL"}  # all four SAVEE speakers are men
_SAVEE = re.compile(r"^(sa|su|a|d|f|h|n)(\d\d)$")


def parse_savee(path: Path) -> Utterance:
    """``DC_a01.wav`` or ``DC/a01.wav``: speaker, emotion code (a d f h n sa su), number."""
    stem = path.stem
    if "_" in stem:
        speaker, rest = stem.split("_", 1)
    else:
        speaker, rest = path.parent.name, stem
    m = _SAVEE.match(rest)
    if not m or not re.fullmatch(r"[A-Z]{2}", speaker):
        raise _Unparseable("not SPEAKER_<code><nn>")
    code = m.group(1)
    gender = "male" if speaker in _SAVEE_SPEAKERS else None
    return Utterance(path, canonical_label(code), speaker, gender, "savee",
                     {"raw_label": code, "number": int(m.group(2))})


_EMODB_EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful",
                   "F": "happy", "T": "sad", "N": "neutral"}
_EMODB_GENDERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
                  "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}
_EMODB = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z]?)$")


def parse_emodb(path: Path) -> Utterance:
    """``03a01Fa.wav``: speaker 03, text a01, emotion letter (German initial), version."""
    m = _EMODB.match(path.stem)
    if not m:
        raise _Unparseable("not <speaker><text><emotion><version>")
    speaker, text, letter, version = m.groups()
    return Utterance(path, _EMODB_EMOTIONS[letter], speaker, _EMODB_GENDERS.get(speaker),
                     "emodb", {"raw_label": letter, "text": text, "version": version})


_ASED_EMOTIONS = {"n": "neutral", "f": "fearful", "h": "happy", "s": "sad", "a": "angry"}
_ASED_FOLDERS = {"n": 1, "f": 2, "h": 3, "s": 4, "a": 5}
_ASED = re.compile(r"(?i)^([nfhsa])([1-5])-(\d\d)-(\d\d)-(0[12])-(\d\d)$")


def parse_ased(path: Path) -> Utterance:
    """``a5-03-01-02-50.wav`` (ASED v1, Amharic): emotion letter + folder number, sentence,
    repetition, gender (01 female, 02 male), speaker 01-65; the letter must match the folder
    number (``05Angry``), as the authors' README defines it."""
    m = _ASED.match(path.stem)
    if not m:
        raise _Unparseable("not <emotion><folder>-<sentence>-<rep>-<gender>-<speaker>")
    letter, folder, sentence, rep, gender, speaker = m.groups()
    letter = letter.lower()
    if _ASED_FOLDERS[letter] != int(folder):
        raise _Unparseable(f"emotion {letter} does not belong in folder {folder}")
    parent = re.match(r"^0?(\d)[A-Za-z]+$", path.parent.name)
    if parent and int(parent.group(1)) != int(folder):
        raise _Unparseable(f"folder {path.parent.name} disagrees with the name")
    return Utterance(path, _ASED_EMOTIONS[letter], speaker,
                     "female" if gender == "01" else "male", "ased",
                     {"raw_label": letter, "sentence": int(sentence), "repetition": int(rep)})


_URDU_EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
_URDU = re.compile(r"^S([MF])(\d+)_F(\d+)_([AHNS])(\d+)$")


def parse_urdu(path: Path) -> Utterance:
    """``SM1_F19_A019.wav`` (URDU, talk shows): S + gender M/F + speaker number, file number of
    that speaker, emotion letter + number. The speaker id keeps the gender letter (``M1`` and
    ``F1`` are different people)."""
    m = _URDU.match(path.stem)
    if not m:
        raise _Unparseable("not S<gender><speaker>_F<nn>_<emotion><nn>")
    g, spk, fno, letter, eno = m.groups()
    return Utterance(path, _URDU_EMOTIONS[letter], f"{g}{int(spk)}",
                     "male" if g == "M" else "female", "urdu",
                     {"raw_label": letter, "file": int(fno), "number": int(eno)})


#: emotiontts_open_db speakers (README: 여성 female, 남성 male).
_EMOTIONTTS_GENDERS = {
    "ema": "female", "emb": "female", "emf": "male", "emg": "male", "emh": "male",
    "nea": "female", "neb": "female", "nec": "female", "ned": "female", "nee": "female",
    "nek": "male", "nel": "male", "nem": "male", "nen": "male", "neo": "male",
}
_EMOTIONTTS = re.compile(r"^([a-z]{3})(\d{5})$")
#: 1-100, 101-200, 201-300, 301-400. The corpus README (and CORPORA.md after it) says
#: 201-300 angry and 301-400 sad; the recordings say the opposite. The emotional-script
#: speakers' own scripts (``script/SPKnnnnn.txt``) for 201-205 are sad ("hearing that from you
#: really hurts", "I got my draft notice, so depressed", a mother after a funeral) and for
#: 301-305 angry ("how many more times must I tell you to stop drinking?"), and models that
#: never heard the corpus read 201-300 as neutral/sad and 301-400 as angry, in both speaker
#: groups (train/results/multicorpus/README.md, "The emotiontts labels").
_EMOTIONTTS_BLOCKS = ("neutral", "happy", "sad", "angry")


def parse_emotiontts(path: Path) -> Utterance:
    """``.../SPK/wav/SPKnnnnn.wav`` (emotiontts_open_db, Korean): the number's hundred gives
    the emotion (1-100 neutral, 101-200 happy, 201-300 sad, 301-400 angry: see
    ``_EMOTIONTTS_BLOCKS`` for why this is not the README's order); the folder is the speaker
    and must agree with the name."""
    m = _EMOTIONTTS.match(path.stem)
    if not m:
        raise _Unparseable("not <speaker><nnnnn>")
    spk, num = m.group(1), int(m.group(2))
    if spk not in _EMOTIONTTS_GENDERS:
        raise _Unparseable(f"unknown emotiontts speaker {spk!r}")
    if path.parent.name == "wav" and path.parent.parent.name != spk:
        raise _Unparseable(f"folder {path.parent.parent.name} disagrees with the name")
    if not 1 <= num <= 400:
        raise _Unparseable(f"utterance number {num} is outside 1-400")
    return Utterance(path, _EMOTIONTTS_BLOCKS[(num - 1) // 100], spk,
                     _EMOTIONTTS_GENDERS[spk], "emotiontts",
                     {"raw_label": str(num), "set": path.parent.parent.parent.name})


_NEMO = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")


def parse_nemo(path: Path, rows: dict[str, dict[str, str]] | None = None) -> Utterance:
    """``SM0_sadness_12.wav`` (nEMO, Polish): speaker, emotion, number. The corpus's
    ``data.tsv`` row for the file (speaker, emotion, gender), when given, must agree."""
    m = _NEMO.match(path.stem)
    if not m:
        raise _Unparseable("not SPEAKER_emotion_N")
    speaker, raw, _ = m.groups()
    label = canonical_label(raw)
    if label not in LABELS_8:
        raise _Unparseable(f"unknown nEMO emotion {raw!r}")
    gender = None
    row = (rows or {}).get(path.name)
    if row is not None:
        if row.get("speaker_id") != speaker or canonical_label(row.get("emotion", "")) != label:
            raise _Unparseable("data.tsv disagrees with the name")
        gender = row.get("gender") or None
    meta = {"raw_label": raw}
    if row is not None and row.get("normalized_text"):
        meta["text"] = row["normalized_text"]
    return Utterance(path, label, speaker, gender, "nemo", meta)


def _nemo_rows(root: Path) -> dict[str, dict[str, str]]:
    """nEMO's ``data.tsv`` by file name (speaker ids are space-padded in the authors' file)."""
    tsv = root / "data.tsv"
    if not tsv.is_file():
        return {}
    with open(tsv, newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(fh, delimiter="\t")
        return {r["file_id"].strip(): {k: (v or "").strip() for k, v in r.items() if k}
                for r in rows if r.get("file_id")}


_NAME_PARSERS = {
    "ravdess": parse_ravdess,
    "tess": parse_tess,
    "savee": parse_savee,
    "emodb": parse_emodb,
    "nemo": parse_nemo,
    "ased": parse_ased,
    "urdu": parse_urdu,
    "emotiontts": parse_emotiontts,
}


# ---- scanning ----------------------------------------------------------------------------
def _natural_key(s: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s))


def _audio_files(root: Path, extensions: Iterable[str]) -> list[Path]:
    exts = {e.lower() for e in extensions}
    files = []
    seen: set[tuple[int, int]] = set()
    # symlinked folders are followed (a corpus is often linked in); a link cycle is cut
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in filenames
                     if not f.startswith(".") and Path(f).suffix.lower() in exts)
    return sorted(files, key=lambda p: _natural_key(str(p.relative_to(root))))


def _crema_genders(root: Path) -> dict[str, str]:
    for candidate in (root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv"):
        if candidate.is_file():
            with open(candidate, newline="", encoding="utf-8-sig") as fh:
                rows = csv.DictReader(fh)
                return {
                    str(r.get("ActorID", "")).strip(): str(r.get("Sex", "")).strip().lower()
                    for r in rows if r.get("ActorID") and r.get("Sex")
                }
    return {}


def detect_format(root: str | os.PathLike[str]) -> str:
    """Guess the corpus format from its file names (the parser that accepts most files)."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".csv":
        return "csv"
    files = _audio_files(root, AUDIO_EXTENSIONS)[:200] if root.is_dir() else []
    if not files:
        raise CorpusError(f"no audio files found under {root}")
    scores = {}
    if (root / "data.tsv").is_file() and (root / "samples").is_dir():
        return "nemo"
    for fmt in ("ravdess", "crema-d", "emodb", "ased", "urdu", "emotiontts", "nemo", "tess",
                "savee"):
        parse = parse_crema_d if fmt == "crema-d" else _NAME_PARSERS[fmt]
        ok = 0
        for f in files:
            try:
                parse(f)
                ok += 1
            except _Unparseable:
                pass
        scores[fmt] = ok
    best = max(scores, key=lambda k: scores[k])
    if scores[best] >= 0.5 * len(files):
        return best
    return "folders"


def load_corpus(
    root: str | os.PathLike[str],
    fmt: str = "auto",
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> Corpus:
    """Parse every audio file under ``root`` (a folder, or a CSV for ``fmt="csv"``).

    Raises CorpusError if the folder is missing, holds no audio files, or no file parses.
    Files that do not parse are skipped and listed in ``Corpus.skipped``.
    """
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"corpus path {root} does not exist")
    if fmt == "auto":
        fmt = detect_format(root)
    fmt = fmt.lower()
    if fmt == "crema":
        fmt = "crema-d"
    if fmt not in FORMATS:
        raise CorpusError(f"unknown corpus format {fmt!r} (known: {', '.join(FORMATS)}, auto)")
    if fmt == "csv":
        return _load_csv(root)
    if not root.is_dir():
        raise CorpusError(f"corpus path {root} is not a folder")
    files = _audio_files(root, extensions)
    if not files:
        raise CorpusError(f"no {'/'.join(extensions)} files found under {root}")
    utterances: list[Utterance] = []
    skipped: list[tuple[Path, str]] = []
    genders = _crema_genders(root) if fmt == "crema-d" else {}
    nemo_rows = _nemo_rows(root) if fmt == "nemo" else {}
    for f in files:
        try:
            if fmt == "nemo":
                utterances.append(parse_nemo(f, nemo_rows))
            elif fmt == "folders":
                utterances.append(_parse_folder_file(root, f))
            elif fmt == "crema-d":
                utterances.append(parse_crema_d(f, genders))
            else:
                utterances.append(_NAME_PARSERS[fmt](f))
        except _Unparseable as exc:
            skipped.append((f, str(exc)))
    if not utterances:
        examples = ", ".join(f"{p.name} ({why})" for p, why in skipped[:3])
        raise CorpusError(
            f"none of the {len(files)} files under {root} has a {fmt} name: {examples}")
    return Corpus(root, fmt, utterances, skipped)


def _parse_folder_file(root: Path, f: Path) -> Utterance:
    """``root/<label>/file.wav``; the speaker is unknown (a sub-folder level, if any, is used)."""
    rel = f.relative_to(root)
    if len(rel.parts) < 2:
        raise _Unparseable("not inside a label folder")
    label = canonical_label(rel.parts[0])
    speaker = rel.parts[1] if len(rel.parts) > 2 else ""
    return Utterance(f, label, speaker, None, "folders", {"raw_label": rel.parts[0]})


def _load_csv(path: Path) -> Corpus:
    """``path,label[,speaker]`` rows; a header row is optional; paths relative to the CSV."""
    if not path.is_file():
        raise CorpusError(f"{path} is not a CSV file")
    base = path.parent
    utterances: list[Utterance] = []
    skipped: list[tuple[Path, str]] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    for i, row in enumerate(rows, 1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            skipped.append((Path(f"{path.name}:{i}"), "needs path,label"))
            continue
        p = Path(row[0].strip())
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            skipped.append((p, "file does not exist"))
            continue
        speaker = row[2].strip() if len(row) > 2 else ""
        utterances.append(Utterance(p, canonical_label(row[1]), speaker, None, "csv",
                                    {"raw_label": row[1].strip()}))
    if not utterances:
        raise CorpusError(f"{path} lists no existing audio files ({len(skipped)} rows skipped)")
    return Corpus(path, "csv", utterances, skipped)
