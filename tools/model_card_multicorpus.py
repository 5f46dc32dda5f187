"""Write MODEL_CARD.md for a model folder trained on several corpora, from the runs that made it.

Every figure comes from a file the pipeline wrote: the leave-one-corpus-out ensembles scored by
`benchmarks/loco_mix.py`, the screens and the teacher's report, the RAVDESS-only models through the
device pipeline (`benchmarks/crosscorpus_eval.py`), the final run's run.json, the conversion
report and `edge-ser bench`; so the card cannot drift from what was measured.

    python tools/model_card_multicorpus.py --mix R/mix.json --shipped cnn_lstm+stats \
        --final RUN/final --models edge/models/default --before R/before.json \
        --svm R/screen-normalisation.json --teacher train/results/teacher/loco.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from model_card import bench, load, speed_lines  # noqa: E402  (one of each)

from benchmarks.audio_conditions import changed_table  # noqa: E402
from edge.frontend.kinds import parse_kind  # noqa: E402
from edge.manifest import Manifest, Member, load_manifest  # noqa: E402
from train.runs import RunInfo, SetInfo  # noqa: E402

LICENCES = {
    "ravdess": "RAVDESS (Livingstone & Russo 2018), actors 01–20, English, acted: CC BY-NC-SA 4.0",
    "nemo": "nEMO (Christop 2024), Polish, acted, 9 speakers: CC BY-NC-SA 4.0",
    "ased": "ASED v1 (Retta et al. 2022), Amharic, semi-acted, 65 speakers: research dataset, "
            "no licence stated (cite the paper)",
    "urdu": "URDU (Latif et al. 2018), Urdu TV talk shows, unscripted, 29 speakers: research "
            "use only",
    "emotiontts": "emotiontts_open_db (public 5 % sample), Korean, acted, 15 speakers: "
                  "CC BY-NC-SA 4.0, research only",
}


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mix", type=Path, required=True, action="append",
                    help="benchmarks/loco_mix.py JSON (repeatable: rows of several reports)")
    ap.add_argument("--device", type=Path,
                    help="benchmarks/loco_device.py JSON: the shipped recipe int8 on the device")
    ap.add_argument("--nested", type=Path,
                    help="benchmarks/nested_loco.py JSON: how the members were chosen")
    ap.add_argument("--conditions", action="append", default=[], metavar="NAME=JSON",
                    help="benchmarks/loco_device.py --condition JSON: a row of the robustness "
                         "table (repeatable; the first is the shipped recipe)")
    ap.add_argument("--levels", type=Path,
                    help="benchmarks/loco_device.py JSON with gain:DB conditions (the shipped "
                         "recipe heard quieter and louder)")
    ap.add_argument("--corpus-levels", type=Path,
                    help="benchmarks/corpus_levels.py JSON: the training corpora's speech level")
    ap.add_argument("--shipped", required=True, help="the combination that ships, e.g. a+b")
    ap.add_argument("--final", type=Path, required=True, action="append",
                    help="a run folder whose final members ship (once per run of a merged "
                         "model folder, in the order of its sources)")
    ap.add_argument("--models", type=Path, required=True, help="shipped model folder")
    ap.add_argument("--before", type=Path,
                    help="crosscorpus_eval JSON of the RAVDESS-only models (before session 13)")
    ap.add_argument("--note", action="append", default=[], metavar="COMBO=TEXT",
                    help="words after a combination's row name, e.g. its fate (repeatable)")
    ap.add_argument("--svm", type=Path, help="screen_corpora JSON (its 'global' row)")
    ap.add_argument("--teacher", type=Path, help="train/results/teacher/loco.json")
    ap.add_argument("--bench-json", type=Path, help="use these bench figures instead of running")
    ap.add_argument("--why", required=True,
                    help="why these members (one paragraph, from the leave-one-corpus-out table)")
    args = ap.parse_args()

    mix = {combo: r for path in args.mix for combo, r in load(path).items()}
    conditions = {name: load(Path(path)) for name, path in
                  (c.split("=", 1) for c in args.conditions)}
    shipped = mix[args.shipped]
    finals = [RunInfo.read(f).to_dict() for f in args.final]
    arch = {m.name: m.arch for f in args.final for m in SetInfo.read(f / "final").members}
    manifest = load(args.models / "manifest.json")
    parsed = load_manifest(args.models)
    # a merged folder (`edge-ser merge`) keeps each source's conversion report under sources/N
    reports = ([args.models / "conversion-report.json"]
               if (args.models / "conversion-report.json").is_file()
               else sorted(args.models.glob("sources/*/conversion-report.json")))
    convs = [load(r) for r in reports]
    perf = load(args.bench_json) if args.bench_json else bench(args.models)
    corpora = list(shipped["per_corpus"])

    def row(name: str, per: dict[str, Any], val: float | None = None) -> str:
        vals = [(per.get(c) or {}).get("core4_uar") if isinstance(per.get(c), dict)
                else per.get(c) for c in corpora]
        done = [v for v in vals if v is not None]
        mean = pct(sum(done) / len(done)) if len(done) == len(corpora) else "–"
        return (f"| {name} | {pct(val)} | " + " | ".join(pct(v) for v in vals)
                + f" | {mean} |")

    before_rows = [r for r in (load(args.before).values() if args.before and
                                args.before.is_file() else []) if not r.get("seen_in_training")]
    table = ["| model | validation speakers UAR % | " + " | ".join(corpora)
             + " | mean |", "|---|---|" + "---|" * (len(corpora) + 1)]
    if args.before and args.before.is_file():
        before = load(args.before)
        per = {c: r for c, r in before.items() if not r.get("seen_in_training")}
        table.append(row("RAVDESS only, 8 classes, the default before session 13 (int8, "
                         "device)", per))
    if args.svm and args.svm.is_file():
        table.append(row("SVM on utterance statistics", load(args.svm)["global"]))
    if args.teacher and args.teacher.is_file():
        table.append(row("Whisper tiny.en encoder + logistic head (workstation teacher)",
                         load(args.teacher)["loco"]["global"]))
    notes = dict(n.split("=", 1) for n in args.note)
    for combo, r in mix.items():
        name = " + ".join(combo.split("+")) + (f" ({notes[combo]})" if combo in notes else "")
        label = f"**{name} (shipped)**" if combo == args.shipped else name
        table.append(row(label, r["per_corpus"], r.get("val_uar_mean")))
    device = load(args.device)["per_corpus"] if args.device else None
    if device:
        table.append(row("shipped recipe, int8 through the device pipeline "
                         "(`benchmarks/loco_device.py`)",
                         {c: v["int8"] for c, v in device.items()}))
    nested = load(args.nested) if args.nested else None
    if nested:
        table.append(row("choosing among the candidates, nested (each corpus: the one the "
                         "other corpora preferred; `benchmarks/nested_loco.py`)",
                         {ch["corpus"]: ch["outer"] for ch in nested["choices"]}))
    detail = ["| held-out corpus | files | UAR own classes % | core-4 UAR % | macro-F1 % | "
              "ECE % |", "|---|---|---|---|---|---|"]
    for c, r in shipped["per_corpus"].items():
        detail.append(f"| {c} | {r['files']} | {pct(r['uar'])} | {pct(r['core4_uar'])} | "
                      f"{pct(r['macro_f1'])} | {pct(r['ece'])} |")
    total = sum(m["bytes"] for conv in convs for m in conv["members"])
    pruning = ", ".join(dict.fromkeys(str(conv["header"]["pruning"]) for conv in convs))
    cal = manifest.get("calibration") or {}
    heard = manifest.get("training", {}).get("corpora", [])
    temps = ", ".join(f"{t:.2f}" for t in shipped.get("temperature", []))
    lines = [
        "# Model card: edge-ser default ensemble (multi-corpus)",
        "",
        f"{len(manifest['members'])} int8 TFLite members voting ({manifest['voting']}) over "
        f"{manifest['window']['seconds']:g} s windows every "
        f"{manifest['window']['hop_seconds']:g} s; labels: **{', '.join(manifest['labels'])}**. "
        f"{family_sentence(parsed, arch)} This card by `tools/model_card_multicorpus.py`.",
        "",
        "## Generalisation: leave-one-corpus-out",
        "",
        "For each corpus, the members were trained on the other four (validation speakers from "
        "those four only) and scored on every file of the held-out corpus, file by file as "
        "`edge-ser classify` decides (core-4 UAR %, chance 25 %). The shipped models are the "
        "same recipes trained on all five corpora, so these figures estimate what they do on a "
        "corpus, language and microphone they never heard. The RAVDESS-only models were never "
        "trained on the four new corpora either (RAVDESS left out of their row).",
        "",
        *table,
        "",
        "Read the first row with care: it decides among the core four *columns* of an 8-class "
        "model (the EmoBox protocol), which the device never does (mean of nEMO, ASED, URDU, "
        f"emotiontts: {pct(_mean_of(load(args.before) if args.before else {}, corpora))} vs "
        f"{pct(_mean_of(shipped['per_corpus'], corpora))} % for the shipped recipe); its real "
        f"8-way decisions were right on {span(before_rows, 'uar')} % (UAR on each corpus's own "
        f"classes) and its confidence was off by {span(before_rows, 'ece')} % (ECE).",
        "",
        "All figures are with emotiontts's labels as its recordings have them (201–300 sad, "
        "301–400 angry; its README has them the other way round, see "
        "`train/results/multicorpus/README.md`, \"The emotiontts labels\"). Models shipped "
        "before session 13 were trained with the two swapped.",
        "",
        "The shipped ensemble, per held-out corpus:",
        "",
        *detail,
        "",
        f"**Why these members.** {args.why}",
        "",
        *robustness_lines(conditions),
        "**Why these labels.** Every corpus has neutral, happy, sad and angry; disgust and calm "
        "exist in RAVDESS only, fear in three corpora, surprise in two. Scored on the core four, "
        "training on 4, 6 or 8 classes gave the same leave-one-corpus-out UAR in the screen "
        "(`train/results/multicorpus/screen-labels-*.md`), so the models recognise the four "
        "every corpus can check. The RAVDESS-only models' 8-way decisions were right on "
        f"{span(before_rows, 'uar')} % of "
        "these corpora's classes (UAR on their own classes, `before-ravdess-only-model.md`).",
        "",
        "**Calibration.** Temperatures fitted on each leave-one-corpus-out set's validation "
        f"windows (never below 1): {temps}; the manifest carries "
        f"**{cal.get('temperature', 1.0):g}** (a temperature fitted on the training corpora "
        + ("did not lower" if _mean(shipped, "ece_calibrated") >= _mean(shipped, "ece")
           else "lowered") + " the calibration error on held-out "
        f"corpora: mean ECE {pct(_mean(shipped, 'ece'))} % raw, "
        f"{pct(_mean(shipped, 'ece_calibrated'))} % calibrated; the RAVDESS-only models' ECE on "
        f"the four new corpora was {span(before_rows, 'ece')} %). The `uncertain` threshold "
        "applies to these "
        "probabilities.",
        "",
        "## Data and licences",
        "",
        *[f"- {LICENCES.get(c['name'], c['name'])} ({len(c['speakers'])} speakers heard)"
          for c in heard],
        "",
        "**Every source is non-commercial or research-only, so these models are too**: "
        "non-commercial research use, with attribution, under CC BY-NC-SA 4.0 where a source "
        "requires it. No audio is part of this repository.",
        "",
        "## Training",
        "",
        *[line for final in finals for line in training_lines(final)],
        "",
        "## Size and speed",
        "",
        f"- {len(manifest['members'])} members, {total / 1024:.0f} KiB (budget 1 MB); pruning: "
        f"{pruning}",
        *speed_lines(perf, manifest),
        "",
        "## Known limits",
        "",
        "- Four emotions only; fear, disgust, surprise and calm are not recognised (calm "
        "speech reads as neutral).",
        goal_line(shipped, device),
        *band_limit_lines(conditions),
        *level_limit_lines(load(args.levels) if args.levels else None,
                           load(args.corpus_levels) if args.corpus_levels else None),
        enrolment_line(manifest),
        "- Acted or semi-acted speech in five languages; spontaneous speech is represented by "
        "URDU's talk shows only. Children's and elderly voices are absent.",
        "- Not a diagnostic tool; labels are the speakers' intended (or judged) expressions.",
        "",
    ]
    (args.models / "MODEL_CARD.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.models / 'MODEL_CARD.md'}")
    return 0


def goal_line(shipped: dict[str, Any], device: dict[str, Any] | None) -> str:
    """Where the shipped recipe stands against issue #13's goal, from the figures."""
    keras = [r["core4_uar"] for r in shipped["per_corpus"].values()]
    figures = [("Keras members", keras)]
    if device:
        figures.append(("int8 on the device", [v["int8"] for v in device.values()]))
    said = "; ".join(f"{what}: mean {pct(sum(v) / len(v))} %, lowest {pct(min(v))} %"
                     for what, v in figures)
    met = [sum(v) / len(v) >= 0.5 and min(v) >= 0.4 for _, v in figures]
    verdict = ("meets" if all(met) else "misses" if not any(met) else
               "meets with the Keras members and misses with the int8 ones")
    return (f"- Cross-corpus accuracy ({said}) {verdict} the goal of issue #13 (mean ≥ 50 %, "
            "every corpus ≥ 40 %), and is far from within-corpus figures. Treat a single "
            "decision as a hint; `uncertain` is the honest answer for much real-world audio.")


def robustness_lines(conditions: dict[str, dict[str, Any]]) -> list[str]:
    """The held-out corpora on changed audio, int8 through the device: one row per
    ``loco_device.py --condition`` report, means over the corpora every report has."""
    if not conditions:
        return []
    first = next(iter(conditions.values()))
    corpora = [c for c in first["per_corpus"]
               if all(c in r["per_corpus"] for r in conditions.values())]
    specs = [k for k in first["mean"] if k not in ("keras", "int8", "float32")]

    def mean_of(r: dict[str, Any], key: str) -> float | None:
        vals = [r["per_corpus"][c].get(key) for c in corpora]
        return None if None in vals else sum(vals) / len(vals)

    rows = {name: {"clean": mean_of(r, "int8"),
                   **{CONDITION_NAMES.get(k, k): mean_of(r, k) for k in specs}}
            for name, r in conditions.items()}
    table = changed_table(f"int8 on the device, core-4 UAR % (mean of {', '.join(corpora)})",
                          rows, [CONDITION_NAMES.get(k, k) for k in specs], mean=False)
    return ["**In a room and in noise.** The same held-out sets, int8 through the device, on "
            "audio changed by the training augmentation's own functions "
            "(`benchmarks/loco_device.py --condition`, `benchmarks/audio_conditions.py`; in "
            "brackets the change against clean audio, points):", "", *table, ""]


def band_limit_lines(conditions: dict[str, dict[str, Any]]) -> list[str]:
    """A known limit from the shipped recipe's own report (the first): what a phone band
    costs, if it was measured."""
    r = next(iter(conditions.values()), {"mean": {}})
    if "telephone" not in r["mean"]:
        return []
    cost = 100 * (r["mean"]["int8"] - r["mean"]["telephone"])
    return [f"- Band-limited audio: a 300–3400 Hz phone band costs {cost:.0f} points of core-4 "
            f"UAR on held-out corpora (to {100 * r['mean']['telephone']:.1f} %, near chance); "
            "every model measured here loses as much. Use a wide-band USB microphone, not a "
            "phone line or a Bluetooth headset's call mode."]


def level_limit_lines(levels: dict[str, Any] | None,
                      corpora: dict[str, Any] | None) -> list[str]:
    """A known limit: what a quieter or louder microphone costs, and the levels trained on."""
    if levels is None:
        return []
    mean = levels["mean"]
    gains = sorted((float(k.split(":")[1]), k) for k in mean if k.startswith("gain:"))
    costs = ", ".join(f"{g:+g} dB {100 * (mean[k] - mean['int8']):+.1f}" for g, k in gains)
    line = (f"- Level: the same held-out sets heard quieter or louder (int8, core-4 UAR points "
            f"against as recorded): {costs}. In the open, speech loses about 6 dB per doubling "
            "of the distance to the microphone, and the corpora were recorded close up. "
            "`edge-ser classify --json` reports "
            "each file's `level_dbfs`; set the capture gain so that ordinary speech reads")
    if corpora:
        med = {c: r["median"] for c, r in corpora["per_corpus"].items()}
        loud = [v for c, v in med.items() if c != "ravdess"] or list(med.values())
        line += (f" about {min(loud):.0f} to {max(loud):.0f} dBFS, where the training corpora's "
                 "speech is (median per corpus: "
                 + ", ".join(f"{c} {v:.1f}" for c, v in med.items()) + ").")
    else:
        line += " as loud as the training corpora's."
    return [line]


#: How the card names benchmarks/audio_conditions.py's conditions.
CONDITION_NAMES = {"reverb": "room (RT60 0.2–0.7 s)", "noise:20": "noise, 20 dB SNR",
                   "noise:10": "noise, 10 dB SNR", "telephone": "phone band (300–3400 Hz)",
                   "cheap_mic": "cheap microphone", "gain:-20": "20 dB quieter",
                   "gain:-10": "10 dB quieter", "gain:-6": "6 dB quieter",
                   "gain:6": "6 dB louder", "gain:10": "10 dB louder"}


def training_lines(final: dict[str, Any]) -> list[str]:
    """How one run's members were trained, from its run.json."""
    cfg = final["config"]
    members = cfg.get("members") or []
    if members and all(m.split(":")[0] == "rbf" for m in members):
        return [
            f"- {final.get('command')}",
            f"  - closed form, no epochs: {cfg['rbf_centres']} k-means centres (from "
            f"{cfg['rbf_kmeans_windows']} training windows) of the standardised window "
            f"statistics (mean and {cfg['rbf_spread']}), Gaussian kernels, a class- and "
            f"corpus-balanced logistic regression (C = {cfg['rbf_c']:g}); "
            f"{cfg['aug_copies']} augmented copies per training file",
            "  " + normalisation_line(cfg),
        ]
    masks = [name for name, key in (("time", "specaug_time_masks"),
                                    ("frequency", "specaug_freq_masks")) if cfg.get(key, 2) > 0]
    spec = f"SpecAugment ({' and '.join(masks)} masks)" if masks else "no SpecAugment"
    return [
        f"- {final.get('command')}",
        f"  - corpora weighted equally (`corpus_balance = {cfg['corpus_balance']}`), classes "
        f"balanced inside each; {cfg['aug_copies']} augmented copies per training file (pitch "
        f"±{cfg['aug_pitch_semitones']} semitones, stretch {cfg['aug_stretch_min']}–"
        f"{cfg['aug_stretch_max']}, noise {cfg['aug_snr_min_db']}–{cfg['aug_snr_max_db']} dB "
        f"SNR, gain ±{cfg['aug_gain_db']} dB), {spec}, mixup {cfg['mixup_alpha']}, "
        f"{cfg['epochs']} epochs",
        "  " + normalisation_line(cfg),
    ]


def normalisation_line(cfg: dict[str, Any]) -> str:
    """How the members' windows were made and normalised, from the final run's config."""
    fill = cfg.get("window_fill", "none") == "speech"
    mixed = cfg.get("speaker_norm", "none") == "mixed"
    text = "- windows: " + ("each window's non-speech frames (silence, the padding of short "
                            "clips) hold its own speech frames (`window_fill = \"speech\"`); "
                            if fill else "every frame as heard; ")
    text += ("normalisation: every training window twice, by the global statistics of the "
             "training windows and by its speaker's own statistics from "
             f"{cfg.get('speaker_norm_clips')} of their clips (`speaker_norm = \"mixed\"`); "
             "the device uses the global ones" if mixed else
             "normalisation: global statistics of the training windows")
    return text + " (`train/results/multicorpus/README.md`)"


def enrolment_line(manifest: dict[str, Any]) -> str:
    """What a speaker profile does with these models, from the manifest."""
    e = manifest.get("enrolment") or {}
    features, prior = e.get("features", "global"), e.get("prior", "none")
    if features == "global" and prior == "none":
        what = "changes nothing with these models (`enrolment.features = \"global\"`, prior `none`)"
    else:
        what = (f"applies as the manifest says (`enrolment.features = \"{features}\"`, prior "
                f"`{prior}`" + (f" at strength {e.get('prior_strength'):g}" if prior != "none"
                                else "") + ")")
    return ("- A speaker profile (`edge-ser enrol`, `--speaker`) " + what + ": on people no "
            "model heard it moved core-4 UAR by less than the issue's +5 points on average, and "
            "it costs speakers whose enrolment is all one emotion "
            "(`train/results/enrolment/README.md`). `edge-ser evaluate DIR --enrol K` measures "
            "it on your own recordings.")


def span(rows: list[dict[str, Any]], key: str) -> str:
    """``lo–hi`` of a percentage over result rows (``?`` without rows)."""
    vals = [100 * r[key] for r in rows if r.get(key) is not None]
    return f"{min(vals):.0f}–{max(vals):.0f}" if vals else "?"


#: What each family of members is, as the card says it (a family: an arch, and for statistics
#: members whether they read cepstra or the spectral shape).
FAMILIES = {
    "stats": "read the window's statistics (mean and spread of every coefficient over time: "
             "MFCC or log-mel, with pitch and RMS) into a small MLP",
    "cnn_lstm": "are CNN-LSTMs on the same features, reading the window's time course",
    "cnn": "are convolutional members on the same features (convolutions, then the mean over "
           "time)",
    "stats-shape": "read the window's statistics of the spectral shape (slope, alpha ratio, "
                   "Hammarberg index, centroid, entropy and flux of the mel spectrum, all "
                   "level-free) and pitch, one of them also their deltas,",
    "rbf": "compare the window's statistics (mean and spread) of the spectral shape, its "
           "flatness and pitch with learnt prototypes (Gaussian kernels to k-means centres, "
           "then a logistic regression: an RBF SVM's kind of fit that survives int8)",
    "rbf-rms": "do the same with the window's RMS beside the shape, flatness and pitch (the "
               "loudness of the clip, a cue that reaches other corpora)",
}


def family_of(manifest: Manifest, member: Member, arch: dict[str, str]) -> str | None:
    """A member's family (a key of FAMILIES): its arch, ``stats-shape`` for statistics of
    the spectral shape, ``rbf-rms`` for kernel members that also read the RMS."""
    # `edge-ser merge` records the name a renamed member has in its final set
    renamed = {new: old for src in manifest.metadata.get("sources", [])
               for new, old in src.get("renamed", {}).items()}
    a = arch.get(renamed.get(member.name, member.name))
    kind = manifest.features[member.feature].kind
    if a == "stats" and kind.startswith("shape"):
        return "stats-shape"
    if a == "rbf" and any(p.base == "rms" for p in parse_kind(kind)):
        return "rbf-rms"
    return a


def family_sentence(manifest: Manifest, arch: dict[str, str]) -> str:
    """What the members are: ``arch`` maps each member's name to its arch (the final sets'
    own records), and the manifest says which window each member's stream is."""
    parts = []
    for family, text in FAMILIES.items():
        chosen = [mb for mb in manifest.members if family_of(manifest, mb, arch) == family]
        fills = {manifest.stream_fill(mb.feature) for mb in chosen}
        window = (" over whole windows, as heard" if fills == {"none"} else
                  " over speech-filled windows" if fills == {"speech"} else "")
        if chosen:
            parts.append(f"{len(chosen)} {text}{window}")
    how = ("; each family trained by a run of its own and joined by `edge-ser merge`"
           if "sources" in manifest.metadata else "")
    return ("Of the members, " + "; ".join(parts) + " (`train/results/multicorpus/README.md`"
            + how + ").")


def _mean_of(per: dict[str, Any], corpora: list[str]) -> float | None:
    """Mean core-4 UAR over the corpora both tables have (RAVDESS aside)."""
    vals = [per[c]["core4_uar"] for c in corpora
            if c != "ravdess" and c in per and per[c].get("core4_uar") is not None]
    return sum(vals) / len(vals) if vals else None


def _mean(entry: dict[str, Any], key: str) -> float:
    vals = [r[key] for r in entry["per_corpus"].values()]
    return sum(vals) / len(vals)


if __name__ == "__main__":
    sys.exit(main())
