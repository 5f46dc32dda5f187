"""Does enrolment help on people no model heard? A leave-one-corpus-out screen of speaker
statistics with the fast utterance-statistics SVM (``screen_corpora.py``'s model).

Why: enrolment (``edge-ser enrol``) gives the device a few unlabelled clips of each speaker.
Before training members for it, this screen measures on each held-out corpus, for K enrolment
clips per test speaker (drawn at random, any emotion, never scored), on the same scored files:

- ``global``: frames normalised with the training speakers' global statistics (no enrolment);
- ``global+prior``: the same model, each window's probabilities divided by the speaker's mean
  probabilities over the K enrolment clips (an output prior correction);
- ``speaker``: trained on frames normalised by each training speaker's statistics (from K of
  its clips, as enrolment would give), tested with the K enrolment clips' statistics;
- ``speaker, none``: the same model when nobody enrolled (global statistics instead);
- ``mixed``: trained on both normalisations, tested with enrolment and without (``mixed, none``);
- ``compensated (...)``: a speaker's statistics are their voice *plus* the emotions of their
  clips; when the clips lean to one emotion (26 of URDU's 29 talk-show speakers have clips of one
  emotion only) normalising by them subtracts the emotion itself. Compensation removes each
  clip's expected emotion offset first, ``m' = m - mean_i sum_c p_i(c) delta_c`` and
  ``log s' = log s - mean_i sum_c p_i(c) rho_c`` (``delta``/``rho``: each class's departure of an
  utterance's frame mean / log spread from its speaker's, fitted on the training speakers with
  their labels, zero mean over the classes, so balanced clips are left as they are). Training
  speakers are compensated with their own labels. ``p_i`` is, for a test speaker's clips:
  ``labels`` their true emotions (a labelled enrolment, not what the issue allows: it shows what
  knowing the emotions is worth), ``decided`` the global model's decisions (label-free),
  ``decided twice`` those of the compensated model after one such pass;
- ``projected``: label-free; a speaker's departure from the training speakers' mean is
  normalised away except along the emotions' directions (``delta``, ``rho``);
- with ``--guided``, two enrolments that ask the user for known emotions, each scored on the
  speaker's other files against ``global`` on the same files (corpora whose scored files miss
  a core class are left out): ``neutral``, K of their neutral clips (what "speak in your
  usual voice for 30 s" would give), and ``balanced``, K/4 clips of each core emotion (what
  "say this calmly, happily, sadly, angrily" would give); with plain (``speaker``) and
  compensated statistics (``compensated (known emotions)``).

With ``--all-frames`` the utterance statistics run over every frame, silence too (as the members'
windows do), while speakers' statistics stay on speech frames (as enrolment computes them).

    python benchmarks/enrolment_screen.py --data ravdess:DIR --data nemo:DIR ... --cache CACHE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.enrolment_loco import ROW_INFO
from benchmarks.report import save_report
from benchmarks.screen_corpora import ScreenSvm, core4_uar, fit_svm, load_frames
from edge.corpora import CORE_4
from edge.frontend.windows import SPEAKER_MIN_STD
from edge.frontend.windows import speaker_statistics as stats_of
from train.datasets import files_by_speaker
from train.features import default_cache_dir
from train.speakernorm import enrolment_clips

Stats = tuple[np.ndarray, np.ndarray]


def utt_vector(f: np.ndarray, st: Stats) -> np.ndarray:
    g = (f - st[0]) / st[1]
    return np.concatenate([g.mean(0), g.std(0)])


GUIDED = {"neutral": "K neutral clips known to be neutral",
          "balanced": "K/4 clips of each core emotion, known"}


def guided_clips(by_speaker: dict[str, list[int]], corpus: np.ndarray, y: np.ndarray, held: str,
                 k: int, cols: list[int], neutral: int, seed: int
                 ) -> dict[str, dict[str, list[int]]]:
    """For each guided enrolment, the clips of each held-out speaker who can give them."""
    out: dict[str, dict[str, list[int]]] = {"neutral": {}, "balanced": {}}
    for s, ids in by_speaker.items():
        if corpus[ids[0]] != held or len(ids) <= k:
            continue
        calm = [i for i in ids if y[i] == neutral]
        if len(calm) >= k:
            out["neutral"][s] = enrolment_clips(calm, s, k, seed)
        per = [[i for i in ids if y[i] == c] for c in cols]
        if all(len(p) > k // 4 for p in per):  # one clip of each left to score
            out["balanced"][s] = sorted(i for p in per
                                        for i in enrolment_clips(p, s, max(1, k // 4), seed))
    return out


def decisions(model: ScreenSvm, x: np.ndarray, n_labels: int) -> np.ndarray:
    """The model's decisions as one-hot rows over the whole label set."""
    out = np.zeros((len(x), n_labels))
    out[np.arange(len(x)), np.asarray(model.classes)[model.decide(x).argmax(1)]] = 1.0
    return out


ITERATIONS = 10


def class_offsets(u: np.ndarray, ls: np.ndarray, y: np.ndarray, corpus: np.ndarray,
                  speaker: np.ndarray, enrol: dict[str, list[int]], pooled: dict[str, Stats],
                  n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``delta_c``, ``rho_c`` from labelled speakers (``u``/``ls``: each utterance's frame mean
    and log spread): alternating fits of the speakers' compensated statistics and the classes'
    offsets, every corpus the same weight, zero mean over the classes present."""
    delta = np.zeros((n_labels, u.shape[1]))
    rho = np.zeros_like(delta)
    idx = np.array([i for ids in enrol.values() for i in ids])
    present = sorted({int(c) for c in y[idx]})
    for _ in range(ITERATIONS):
        m = {s: compensated(pooled[s], np.eye(n_labels)[y[ids]], delta, rho)
             for s, ids in enrol.items()}
        du = u[idx] - np.stack([m[speaker[i]][0] for i in idx])
        dl = ls[idx] - np.log(np.stack([m[speaker[i]][1] for i in idx]))
        for c in present:
            cells = [(y[idx] == c) & (corpus[idx] == k) for k in np.unique(corpus[idx])]
            delta[c] = np.mean([du[sel].mean(0) for sel in cells if sel.any()], 0)
            rho[c] = np.mean([dl[sel].mean(0) for sel in cells if sel.any()], 0)
        delta[present] -= delta[present].mean(0)
        rho[present] -= rho[present].mean(0)
    return delta, rho


def compensated(pooled: Stats, p: np.ndarray, delta: np.ndarray, rho: np.ndarray) -> Stats:
    """A speaker's statistics with their clips' expected emotion offsets removed (``p``: each
    clip's class probabilities)."""
    m, s = pooled
    return m - (p @ delta).mean(0), s * np.exp(-(p @ rho).mean(0))


def projected(pooled: Stats, centre: Stats, scale: np.ndarray, delta: np.ndarray,
              rho: np.ndarray) -> Stats:
    """A speaker's statistics whose departure from ``centre`` (the training speakers' mean
    statistics) leaves out the emotions' directions, so normalising takes away the voice but
    leaves emotion-like departures to the model."""
    out = []
    for off, d, sc in ((pooled[0] - centre[0], delta, scale),
                       (np.log(pooled[1]) - np.log(centre[1]), rho, np.ones_like(scale))):
        _, sv, vt = np.linalg.svd(d / sc, full_matrices=False)
        q = vt[sv > 1e-9 * max(float(sv.max()), 1e-300)]
        z = off / sc
        out.append((z - q.T @ (q @ z)) * sc)
    return centre[0] + out[0], centre[1] * np.exp(out[1])


def log_softmax(d: np.ndarray) -> np.ndarray:
    d = d - d.max(1, keepdims=True)
    return d - np.log(np.exp(d).sum(1, keepdims=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--cache", type=Path, default=default_cache_dir())
    ap.add_argument("--kind", default="mfcc+pitch+rms")
    ap.add_argument("--clips", default="5,10,20", help="enrolment clips per test speaker")
    ap.add_argument("--labels", default=",".join(CORE_4))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--guided", action="store_true",
                    help="also enrol from K clips of known emotions (neutral; balanced)")
    ap.add_argument("--all-frames", action="store_true",
                    help="utterance statistics over every frame, silence too")
    ap.add_argument("--out", type=Path, default=None, help="write the table (.md) and JSON here")
    args = ap.parse_args()

    ds, frames, labels, cols = load_frames(args.data, args.labels, args.kind, args.cache)
    seen = load_frames(args.data, args.labels, args.kind, args.cache, speech_only=False)[1] \
        if args.all_frames else frames
    corpus = ds.corpus_of()
    speaker = np.asarray(ds.speaker_of())
    y = np.asarray(ds.y)
    n = len(labels)
    onehot = np.eye(n)
    u = np.stack([f.mean(0) for f in frames])
    ls = np.log(np.stack([np.maximum(f.std(0), SPEAKER_MIN_STD) for f in frames]))
    neutral = labels.index("neutral")
    by_speaker = files_by_speaker(speaker)

    def vec(i: int, st: Stats) -> np.ndarray:
        return utt_vector(seen[i], st)

    results: dict[str, dict] = {}
    for k in [int(c) for c in args.clips.split(",")]:
        results[str(k)] = {}
        for held in sorted(set(corpus)):
            tr = np.flatnonzero(corpus != held)
            glob = stats_of([seen[i] for i in tr])
            # the same enrolment clips and scored files for every method
            enrol: dict[str, list[int]] = {}
            scored: list[int] = []
            skipped = 0
            for s, ids in by_speaker.items():
                if corpus[ids[0]] != held:
                    continue
                if len(ids) <= k:
                    skipped += 1
                    continue
                enrol[s] = enrolment_clips(ids, s, k, args.seed)
                scored += [i for i in ids if i not in enrol[s]]
            row: dict[str, float | int] = {"speakers": len(enrol), "skipped_speakers": skipped,
                                           "files": len(scored)}
            if not scored:
                results[str(k)][held] = row
                continue
            te = np.array(scored)
            pooled = {s: stats_of([frames[i] for i in ids]) for s, ids in enrol.items()}
            train_enrol = {s: enrolment_clips(ids, s, k, args.seed)
                           for s, ids in by_speaker.items() if corpus[ids[0]] != held}
            train_spk = {s: stats_of([frames[i] for i in ids]) for s, ids in train_enrol.items()}
            x_glob = np.stack([vec(i, glob) for i in tr])
            x_spk = np.stack([vec(i, train_spk[str(speaker[i])]) for i in tr])
            t_glob = np.stack([vec(i, glob) for i in te])
            t_spk = np.stack([vec(i, pooled[str(speaker[i])]) for i in te])
            yt = y[te]

            m_glob = fit_svm(x_glob, y[tr], corpus[tr], n)
            d = m_glob.decide(t_glob)
            row["global"] = core4_uar(d, yt, m_glob.classes, cols)
            enrol_logp = {s: log_softmax(m_glob.decide(np.stack(
                [vec(i, glob) for i in ids]))).mean(0) for s, ids in enrol.items()}
            prior = np.stack([enrol_logp[str(speaker[i])] for i in te])
            row["global+prior"] = core4_uar(log_softmax(d) - prior, yt, m_glob.classes, cols)
            m_spk = fit_svm(x_spk, y[tr], corpus[tr], n)
            row["speaker"] = m_spk.core4_uar(t_spk, yt, cols)
            row["speaker, none"] = m_spk.core4_uar(t_glob, yt, cols)
            m_mix = fit_svm(np.concatenate([x_glob, x_spk]), np.concatenate([y[tr], y[tr]]),
                            np.concatenate([corpus[tr], corpus[tr]]), n)
            row["mixed"] = m_mix.core4_uar(t_spk, yt, cols)
            row["mixed, none"] = m_mix.core4_uar(t_glob, yt, cols)

            delta, rho = class_offsets(u, ls, y, corpus, speaker, train_enrol, train_spk, n)
            centre = (np.mean([st[0] for st in train_spk.values()], 0),
                      np.exp(np.mean([np.log(st[1]) for st in train_spk.values()], 0)))
            scale = np.std([st[0] for st in train_spk.values()], 0) + 1e-6
            m_proj = fit_svm(np.stack([vec(i, projected(train_spk[str(speaker[i])], centre,
                                                        scale, delta, rho)) for i in tr]),
                             y[tr], corpus[tr], n)
            row["projected"] = m_proj.core4_uar(np.stack([vec(i, projected(
                pooled[str(speaker[i])], centre, scale, delta, rho)) for i in te]), yt, cols)
            comp_tr = {s: compensated(train_spk[s], onehot[y[ids]], delta, rho)
                       for s, ids in train_enrol.items()}
            m_comp = fit_svm(np.stack([vec(i, comp_tr[str(speaker[i])]) for i in tr]),
                             y[tr], corpus[tr], n)

            def comp_uar(p: dict[str, np.ndarray], files: np.ndarray, stats: dict[str, Stats],
                         m_comp: ScreenSvm = m_comp, delta: np.ndarray = delta,
                         rho: np.ndarray = rho) -> float:
                st = {s: compensated(stats[s], p[s], delta, rho) for s in p}
                return m_comp.core4_uar(np.stack([vec(i, st[str(speaker[i])]) for i in files]),
                                        y[files], cols)

            decided = {s: decisions(m_glob, np.stack([vec(i, glob) for i in ids]), n)
                       for s, ids in enrol.items()}
            twice = {}
            for s, ids in enrol.items():
                st = compensated(pooled[s], decided[s], delta, rho)
                twice[s] = decisions(m_comp, np.stack([vec(i, st) for i in ids]), n)
            row["compensated (labels)"] = comp_uar({s: onehot[y[ids]] for s, ids in
                                                    enrol.items()}, te, pooled)
            row["compensated (decided)"] = comp_uar(decided, te, pooled)
            row["compensated (decided twice)"] = comp_uar(twice, te, pooled)
            if args.guided:  # enrolments that ask the user for known emotions
                for how, picked in guided_clips(by_speaker, corpus, y, held, k, cols,
                                                neutral, args.seed).items():
                    rest = np.array([i for s, ids in picked.items() for i in by_speaker[s]
                                     if i not in ids], dtype=np.int64)
                    if not len(rest) or not set(cols) <= {int(c) for c in y[rest]}:
                        continue
                    own = {s: stats_of([frames[i] for i in ids]) for s, ids in picked.items()}
                    row[f"{how}: files"] = len(rest)
                    row[f"{how}: global"] = m_glob.core4_uar(
                        np.stack([vec(i, glob) for i in rest]), y[rest], cols)
                    row[f"{how}: speaker"] = m_spk.core4_uar(
                        np.stack([vec(i, own[str(speaker[i])]) for i in rest]), y[rest], cols)
                    row[f"{how}: compensated (known emotions)"] = comp_uar(
                        {s: onehot[y[ids]] for s, ids in picked.items()}, rest, own)
            results[str(k)][held] = row
            print(k, held, {a: (round(b, 3) if isinstance(b, float) else b)
                            for a, b in row.items()}, flush=True)
    lines = []
    for k, per in results.items():
        for prefix, title in (("", "core-4 UAR of the other clips"),
                              *((f"{how}: ", f"{what}; core-4 UAR of the other clips")
                                for how, what in GUIDED.items())):
            corpora = [c for c in sorted(per) if f"{prefix}global" in per[c]]
            if not corpora:
                continue
            methods = [m for m in per[corpora[0]] if m not in ROW_INFO
                       and not m.endswith(": files")
                       and (m.startswith(prefix) if prefix else ": " not in m)]
            files = f"{prefix}files"
            lines += [f"\n### {k} enrolment clips per test speaker ({title})\n",
                      "| method | " + " | ".join(f"{c} ({per[c][files]} files)" for c in corpora)
                      + " | mean | vs global |", "|---|" + "---|" * (len(corpora) + 2)]
            base = np.mean([per[c][f"{prefix}global"] for c in corpora])
            for m in methods:
                vals = [per[c][m] for c in corpora]
                lines.append(f"| {m.removeprefix(prefix)} | "
                             + " | ".join(f"{v:.3f}" for v in vals)
                             + f" | {np.mean(vals):.3f} | {100 * (np.mean(vals) - base):+.1f} |")
        gone = [f"{c} ({per[c]['skipped_speakers']} speakers)" for c in sorted(per)
                if per[c]["skipped_speakers"]]
        if gone:
            lines.append(f"\nSpeakers with {k} clips or fewer are left out: {', '.join(gone)}.")
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
