"""Write the course's results page, RESULTS.md, and the chapter table of README.md from results/*.json.

Every figure on the page is read from a file a benchmark wrote (each section names the command
that wrote it), so the page cannot drift from the measurements: change a measurement by
re-running its benchmark, then re-run this script. ``tests/test_results_page.py`` fails when the
committed page or the README's table differ from what this script writes.

Usage::

    python benchmarks/results_page.py            # writes RESULTS.md, results/leaderboard.png, README.md's table
    python benchmarks/results_page.py --check    # exit 1 when RESULTS.md or README.md is out of date
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
PAGE = REPO / "RESULTS.md"
PLOT = RESULTS / "leaderboard.png"
README = REPO / "README.md"
TABLE_BEGIN = "<!-- chapter table: written by benchmarks/results_page.py -->"
TABLE_END = "<!-- end of chapter table -->"

CHAPTERS = [  # number, notebook, what it teaches, what you leave with
    ("00", "00_audio_fundamentals", "audio fundamentals", "sampling, quantisation, mu-law, STFT, phase, mel, Griffin-Lim"),
    ("01", "01_datasets", "datasets", "NSynth, GTZAN, MAESTRO: formats, metadata, pitfalls; the offline mini versions"),
    ("02", "02_rnn_baseline", "RNN baseline", "sample-level autoregression, teacher forcing, free running, drift"),
    ("03", "03_gan_baseline", "GAN baseline", "a GANSynth-lite, the hinge loss, instability and mode collapse measured"),
    ("04", "04_neural_codecs", "neural codecs", "autoencoder, VQ, residual VQ, bitrate, EnCodec"),
    ("05", "05_codec_transformer", "codec Transformer", "token layouts, a decoder-only LM, KV cache, top-p, guidance, continuation"),
    ("06", "06_diffusion", "diffusion", "v-prediction, DDIM, guidance, steps vs quality, over codec latents"),
    ("07", "07_fad_evaluation", "FAD evaluation", "Fréchet distance from scratch, embeddings, bias, FAD-inf, KAD, a leaderboard"),
    ("08", "08_listening_test", "listening test", "MOS and MUSHRA, blinding, a test in ipywidgets, statistics"),
]


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{max(1, math.ceil(seconds / 60))} min"


def f(v, fmt="{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def chapter_times() -> dict:
    """Per chapter: smoke and default wall seconds, CPU seconds, load; projected GPU minutes."""
    out = {n: {} for n, *_ in CHAPTERS}
    for profile in ("smoke", "default"):
        runs = (load(f"notebook_times_{profile}") or {}).get("runs", {})
        for n, stem, *_ in CHAPTERS:
            entry = runs.get(f"{stem}.ipynb", {}).get(profile)
            if entry:
                out[n][profile] = entry
    gpu = (load("gpu_projection") or {}).get("chapters", {})
    for n in out:
        if n in gpu:
            out[n]["T4"], out[n]["H100"] = gpu[n]["T4_min"], gpu[n]["H100_min"]
    return out


def chapter_table() -> str:
    """The README's table: one row a chapter, its runtime in each profile."""
    times = chapter_times()
    lines = ["| # | chapter | what you learn | smoke | default (2-core CPU) | full (one T4 GPU, projected) |",
             "|---|---|---|---|---|---|"]
    for n, stem, title, what in CHAPTERS:
        t = times[n]
        full = f"{math.ceil(t['T4'])} min" if "T4" in t else "as default (trains nothing)"
        lines.append(f"| {n} | [{title}](notebooks/{stem}.ipynb) | {what} | "
                     f"{minutes(t.get('smoke', {}).get('wall_seconds'))} | "
                     f"{minutes(t.get('default', {}).get('wall_seconds'))} | {full} |")
    return "\n".join(lines)


def section_times() -> list[str]:
    times = chapter_times()
    out = ["## Chapter run times", "",
           "Each notebook run top to bottom with `jupyter nbconvert --execute` "
           "(`python benchmarks/notebook_times.py --profile P`); wall and CPU seconds, and the "
           "load average of the 2-core machine before the run. The `full` column is projected, "
           "not measured: `python benchmarks/gpu_projection.py` prices the FLOPs, kernel launches "
           "and bytes of each chapter's `full` runs on a T4 and an H100.", "",
           "| chapter | smoke: wall s (CPU s, load) | default: wall s (CPU s, load) | full T4 / H100 (projected min) |",
           "|---|---|---|---|"]
    for n, stem, title, _ in CHAPTERS:
        t = times[n]

        def cell(p):
            e = t.get(p)
            return "–" if not e else f"{e['wall_seconds']:.0f} ({e['cpu_seconds']:.0f}, {e['load_average_before']:.1f})"

        gpu = f"{t['T4']:.1f} / {t['H100']:.1f}" if "T4" in t else "–"
        out.append(f"| {n} {title} | {cell('smoke')} | {cell('default')} | {gpu} |")
    return out + [""]


def plot_leaderboard(board: dict, path: Path) -> None:
    """Three panels: FAD (CREPE embedding) with its FAD-inf, pitch accuracy, family accuracy."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = board["models"] + [board["floor"]]
    names = [r["model"] for r in rows]
    y = list(range(len(rows)))[::-1]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
    fad = [r["fad"]["crepe"]["fad"] for r in rows]
    inf = [r["fad"]["crepe"]["fad_inf"] for r in rows]
    ax[0].barh(y, fad, color="C0", label="FAD (64 notes)")
    ax[0].plot(inf, y, "k|", ms=14, mew=2, label="FAD-inf")
    ax[0].set(xlabel="FAD, CREPE embedding (lower is better)", xlim=(0, None))
    ax[0].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    for k, key in enumerate(("crepe_acc", "classifier_acc")):
        ax[1].barh([v + (0.2 - 0.4 * k) for v in y], [r["pitch"][key] for r in rows], height=0.4,
                   color=f"C{k + 1}", label=["CREPE", "note classifier"][k])
    ax[1].set(xlabel="pitch accuracy (higher is better)", xlim=(0, 1))
    ax[1].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    ax[2].barh(y, [r["family"]["classifier_acc"] for r in rows], color="C4")
    ax[2].set(xlabel="family accuracy, note classifier", xlim=(0, 1))
    ax[0].set_yticks(y)
    ax[0].set_yticklabels(names)
    fig.suptitle(f"the course's reference models on one grid of {board['grid']['n_notes']} notes "
                 "(last row: real notes, the floor)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def section_leaderboard(board: dict | None, plot: bool) -> list[str]:
    if board is None:
        return ["## The leaderboard", "", "Not measured: run `python -m coursekit leaderboard`.", ""]
    from coursekit.leaderboard import format_table

    if plot:
        plot_leaderboard(board, PLOT)
    return ["## The leaderboard", "",
            "`python -m coursekit leaderboard` samples every reference model on one fixed grid of "
            "notes and judges each set against real test notes chosen by the same grid; the last "
            "row is real validation notes judged the same way, the floor. Every model was trained "
            "on one CPU, far short of a `full` GPU budget; each model card (`coursekit/checkpoints/"
            "*.json`) says how. The note classifier hears codec-decoded notes as other families, "
            "so family accuracy and classifier FAD judge the codec's timbre as much as the "
            "models; CREPE's pitch and FAD are the fairer columns for the codec models.", "",
            f"![the leaderboard]({PLOT.relative_to(REPO)})", "", format_table(board),
            "The bootstrap intervals lie above most estimates: a resample draws clips with "
            "replacement, fewer distinct clips make FAD larger (its bias, chapter 07), so the "
            "resampled values sit above the estimate. FAD-inf, extrapolated to infinitely many "
            "clips, is the figure to compare across models.", ""]


def fad_of(block: dict, emb: str) -> str:
    e = (block.get("fad") or {}).get(emb)
    return "–" if not e else f"{e['fad']:.2f}"


def section_models() -> list[str]:
    out = ["## Each model, judged on its own task", ""]
    base = load("baselines_eval")
    if base:
        out += [f"**RNN and GAN** (`python benchmarks/baselines_eval.py`): {base['n']} notes each, "
                "conditions from the test split in the range each was trained on, judged by "
                "`python -m coursekit eval` (CREPE pitch within 50 cents of the asked pitch; FAD "
                "against the test split).", "",
                "| model | CREPE pitch acc. | unpitched | FAD crepe | family acc. | audio s / s |", "|---|---|---|---|---|---|"]
        for name, m in base["models"].items():
            e = m["eval"]
            out.append(f"| {name} | {f(e['pitch']['crepe_acc'])} | {e['pitch']['crepe_unpitched']} | "
                       f"{fad_of(e, 'crepe')} | {f(e['family']['classifier_acc'])} | "
                       f"{f(m['audio_seconds_per_second'], '{:.1f}')} |")
        out.append("")
    codec = load("codec_nsynth")
    if codec:
        out += [f"**The codec** (`{codec['command']}`): {codec['n_notes']} test notes through "
                f"the reference codec; CREPE hears {f(codec['originals']['crepe_pitch_acc'], '{:.3f}')} "
                "of the originals at their pitch.", "",
                "| codebooks | kbps | mel distance | SI-SDR (dB) | ViSQOL (MOS-LQO) | CREPE pitch acc. | FAD crepe |",
                "|---|---|---|---|---|---|---|"]
        for b in codec["bitrates"]:
            out.append(f"| {b['n_q']} | {b['bitrate_bps'] / 1000:.1f} | {f(b['mel_distance'])} | "
                       f"{f(b['si_sdr_db'], '{:.1f}')} | {f(b.get('visqol'))} | "
                       f"{f(b['crepe_pitch_acc'], '{:.3f}')} | {f(b['fad']['crepe'], '{:.3f}')} |")
        if codec.get("visqol_command"):
            out += ["", f"ViSQOL (audio mode, on {codec['bitrates'][0].get('visqol_n', '?')} of the notes, "
                        f"resampled to 48 kHz): `{codec['visqol_command']}`."]
        music = load("codec_music")
        if music:
            out += ["", f"Music at {music['bitrate_bps'] / 1000:.1f} kbps (`{music['command'].strip()}`): " + "; ".join(
                f"{k.upper()} mel distance {f(music[k]['mel_distance'])}, SI-SDR {f(music[k]['si_sdr_db'], '{:.1f}')} dB, "
                f"ViSQOL {f(music[k].get('visqol'))}, FAD mel {music[k]['fad_mel']:.0f}" for k in ("gtzan", "maestro") if k in music) + "."]
        real = load("codec_real")
        if real:
            out += ["", f"Real recordings at {real['bitrate_bps'] / 1000:.1f} kbps (`{real['command']}`): " + "; ".join(
                f"{name} ({s['n_clips']} clip{'s' if s['n_clips'] != 1 else ''} of at most {real['clip_seconds']:g} s, "
                f"{'../shared/realdata' if s['source'] == 'realdata' else 'the data root'}) mel distance "
                f"{f(s['top_bitrate']['mel_distance'])}, SI-SDR {f(s['top_bitrate']['si_sdr_db'], '{:.1f}')} dB "
                f"(median {f(s['top_bitrate']['si_sdr_db_median'], '{:.1f}')}), ViSQOL "
                f"{f(s['top_bitrate'].get('visqol'))}"
                for name, s in real["sets"].items()) + ". The course's goal for real GTZAN is SI-SDR of at "
                "least 4 dB and mel distance at most 1.2: "
                + ("met." if all(real.get("checks", {}).values()) else "not met yet.")]
        out.append("")
    tr = load("transformer_eval")
    if tr and "notes" in tr:
        n = tr["notes"]
        out += [f"**The codec Transformer** (`{n['command']}`): {n['n_notes']} notes of the whole "
                f"test split's range, top-p {n['top_p']}, temperature {n['temperature']}; pitch "
                "accuracy also as the mean (± sd) over sampling seeds.", "",
                "| guidance | CREPE pitch acc. (seed 0) | mean over seeds | FAD crepe | family acc. |", "|---|---|---|---|---|"]
        for s, r in n["by_cfg_scale"].items():
            o = r.get("over_seeds") or {}
            seeds = f"{o['mean']:.2f} ± {o['sd']:.2f} ({len(o['seeds'])} seeds)" if o else "–"
            out.append(f"| {s} | {f(r['crepe_pitch_acc'])} | {seeds} | {fad_of(r, 'crepe')} | {f(r['family_acc'])} |")
        if "recon" in tr:
            out += ["", f"The codec's own ceiling on those notes ({tr['recon']['n_q']} codebooks, no model): "
                    f"pitch {f(tr['recon']['crepe_pitch_acc'])}."]
        if "cache" in tr:
            c = tr["cache"]
            out += ["", f"KV cache ({c['steps']} steps, one thread): {c['batch1']['speedup']}× faster than "
                    f"re-running the prefix for one note, {c['batch16']['speedup']}× for a batch of 16."]
        if "piano" in tr:
            p = tr["piano"]["fad_vs_real_continuations"]
            out += ["", f"Piano continuation ({tr['piano']['n_clips']} held-out clips, "
                    f"{tr['piano']['prompt_s']:.0f} s prompt, {tr['piano']['continuation_s']:.0f} s continued): FAD mel "
                    f"{p['generated']['mel']['fad']:.0f} against the real continuations; replaying the prompt "
                    f"scores {p['naive_repeat_prompt']['mel']['fad']:.0f}, better: the model keeps the key "
                    "(pitch-class cosine with its prompt "
                    f"{tr['piano']['pitch_class_cosine_prompt_vs_continuation']['generated']:.2f}, real "
                    f"{tr['piano']['pitch_class_cosine_prompt_vs_continuation']['real']:.2f}) but does not "
                    "yet sound like the piece going on."]
        out.append("")
    di = load("diffusion_eval")
    if di and "notes" in di:
        n = di["notes"]
        ceil = di.get("codec_ceiling", {})
        out += [f"**Latent diffusion** (`{di['command']}`): {n['n_gen']} notes, {n['sampler']} "
                f"sampler, {n['steps']} steps, guidance {n['cfg']}: CREPE pitch accuracy "
                f"{f(n['pitch']['crepe_acc'])} ({n['pitch']['crepe_unpitched']} unpitched), FAD crepe "
                f"{fad_of(n, 'crepe')}, family accuracy {f(n['family']['classifier_acc'])}; the codec's "
                f"own ceiling on the same notes: pitch {f(ceil.get('pitch', {}).get('crepe_acc'))}, "
                f"FAD crepe {fad_of(ceil, 'crepe')}."]
        steps = load("diffusion_steps")
        if steps:
            rows = steps["steps_curve"]["rows"]
            k = steps["steps_curve"]["n_notes"]
            accs = [r["pitch_acc"] for r in rows]
            out += ["", f"Steps against quality ({k} notes, `{steps['command']}`): pitch accuracy "
                    f"{min(accs):.3f}–{max(accs):.3f} from {min(r['steps'] for r in rows)} to "
                    f"{max(r['steps'] for r in rows)} steps, a spread of "
                    f"{round((max(accs) - min(accs)) * k)} note(s) in {k}: within the noise of {k} notes."]
        genres = load("diffusion_genres")
        if genres:
            g = genres["genres"]
            out += ["", f"Genre clips (`{genres['command']}`): the nearest real genre (FAD mel) is the "
                    f"asked one for {g['hits']} of {g['of']} genres."]
        out.append("")
    out += section_piano()
    return out


PIANO_ROWS = {"real": "the real excerpt (the judge's ceiling)", "codec": "through the codec, quantized (3.2 kbps)",
              "generated": "**the piano model, from the MIDI**", "sine": "sine tones (`pretty_midi`)",
              "soundfont": "the SoundFont piano", "soundfont_codec": "the SoundFont piano through the codec"}


def section_piano() -> list[str]:
    """The piano played from its score (chapter 06, part 2), from results/piano_judge.json."""
    r = load("piano_judge")
    if not r or "generated" not in r.get("judge", {}):
        return []
    j, fad = r["judge"], r["fad_mel_vs_real"]
    g = r.get("generator", {})
    out = [f"**The piano played from its score** (`{r['command']}`): {r['n_excerpts']} held-out mini-MAESTRO "
           f"excerpts of {r['seconds']:g} s, their MIDI rendered with {g.get('steps')} dpm steps and guidance "
           f"{g.get('cfg')}; judged by transcription (onset F1 within 50 ms, frame F1 over 10 ms frames; mean and "
           "bootstrap 95 % interval) and by FAD (mel) against the real excerpts.", "",
           "| audio | onset F1 | / real | frame F1 | FAD mel |", "|---|---|---|---|---|"]
    for k, name in PIANO_ROWS.items():
        if k not in j:
            continue
        o = j[k]["onset_f1"]
        fd = fad.get(k, {}).get("mel", {}).get("fad")
        out.append(f"| {name} | {o['mean']:.3f} [{o['ci95'][0]:.3f}, {o['ci95'][1]:.3f}] | "
                   f"{j[k].get('ratio_of_real_onset_f1', 1.0):.2f} | {j[k]['frame_f1']['mean']:.3f} | "
                   f"{'–' if fd is None else f'{fd:.0f}'} |")
    rendered = r.get("real_maestro_midi_rendered")
    if isinstance(rendered, dict):
        gen = rendered["generated"]
        out += ["", f"The real MAESTRO MIDI in ../shared/realdata (`{rendered['command']}`): onset F1 "
                f"{gen['onset_f1']:.2f}, frame F1 {gen['frame_f1']:.2f} over its first {rendered['seconds']:g} s"
                + (f"; over the first {rendered['first_seconds']:g} s, the generated {rendered['generated_first']['onset_f1']:.2f} "
                   f"and the real recording {rendered['real_first']['onset_f1']:.2f}" if "real_first" in rendered else "")
                + "."]
    out += ["", "mini-MAESTRO is itself played by that SoundFont piano (with a room and a stereo spread), so on it the "
            "SoundFont baseline is nearly the recording; the generated audio speaks through the codec, whose own "
            "pass bounds it.", ""]
    return out


def section_data_and_fad() -> list[str]:
    out = ["## Data, FAD and set-up", ""]
    pc, fam = load("nsynth_pitch_check"), load("nsynth_family_mfcc")
    if pc and fam:
        made = {pc.get("sound", "additive"), fam.get("sound", "additive")}
        ev = load("eval_mini_nsynth")
        if made != {"sampled"} and ev:
            vt = ev["valid_vs_test"]
            out.append("- The next line was measured on the additive mini-NSynth (`--sound additive`). On the "
                       f"sampled one, CREPE finds {vt['pitch']['crepe_acc']:.0%} of the valid split's notes "
                       f"within 50 cents, and the classifier names {vt['family']['classifier_acc']:.0%} of their "
                       f"families (`{ev['command'].strip()}`).")
        out.append(f"- mini-NSynth: CREPE finds {pc['within_50_cents']:.0%} of {pc['notes_checked']} checked "
                   f"notes within 50 cents of their pitch (`{pc['command'].strip()}`); MFCC statistics "
                   f"and a random forest tell the families apart at {fam['test_accuracy_best']:.1%} on "
                   f"unseen instruments, chance {fam['chance']:.1%} (`python benchmarks/nsynth_family_mfcc.py`).")
    sim = load("fad_inf_simulation")
    if sim:
        m = sim["main_seed_0"]
        out.append(f"- FAD's bias with a known true distance (d={sim['setup']['d']}, n={sim['setup']['n_per_set']}): "
                   f"plain FAD is off by {m['rel_err_plain']:+.0%}, FAD-inf by {m['rel_err_fad_inf']:+.1%} "
                   f"(`{sim['command']}`).")
    ks = load("kad_speed")
    if ks:
        sp, curve = ks["speed"], {r["n"]: r for r in ks["curve"]}
        lo, hi = min(curve), max(curve)
        see = ks["smallest_n_that_sees_the_shift"]
        out.append(f"- KAD, the kernel audio distance: {sp['kad_seconds_median']:.2f} s for 10,000 x 128 against "
                   f"10,000 x 128 (FAD {sp['fad_seconds_median']:.2f} s). On equal distributions FAD falls from "
                   f"{curve[lo]['fad_equal']['mean']:.3g} at n = {lo} to {curve[hi]['fad_equal']['mean']:.3g} at "
                   f"n = {hi}, KAD stays at {curve[lo]['kad_equal']['mean']:+.3f} and "
                   f"{curve[hi]['kad_equal']['mean']:+.3f}; a planted shift of {ks['shift']} is seen by almost every "
                   f"draw from n = {see['kad'] or 'never'} with KAD, "
                   f"{'n = ' + str(see['fad']) if see['fad'] else 'at no n up to ' + str(hi)} with FAD "
                   "(`python benchmarks/kad_speed.py`).")
    ttfs = load("time_to_first_sound")
    if ttfs and "quiet-machine" in ttfs["runs"]:
        r = ttfs["runs"]["quiet-machine"]
        out.append(f"- From a fresh clone to a generated note: {r['totals']['via_sample_command_s'] / 60:.1f} min "
                   "on the 2-core CPU, pip's cache warm (`python benchmarks/time_to_first_sound.py`).")
    return out + [""]


def section_reliability() -> list[str]:
    rel = load("reliability")
    if not rel:
        return []
    rows = rel["defects"]
    out = ["## Reliability", "",
           f"Each defect a careless or hostile user found has tests; run on the code before the fixes "
           f"({rel['before']}) and now (`{rel['command']}`):", "",
           "| # | defect | tests | failed before | pass now |", "|---|---|---|---|---|"]
    for r in rows:
        skipped = f" (+{r['skipped_after']} skipped)" if r["skipped_after"] else ""
        out.append(f"| {r['defect']} | {r['what']} | {r['n_tests']} | {r['failed_before']} | "
                   f"{r['passed_after']}{skipped} |")
    return out + [""]


def section_index() -> list[str]:
    out = ["## Every result file", "", "| file | what wrote it |", "|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        d = json.loads(path.read_text())
        cmd = d.get("command") or d.get("script") or ""
        if not cmd and isinstance(d.get("runs"), dict):
            cmd = next((v.get("command") for v in d["runs"].values() if isinstance(v, dict)), "") or ""
        cmd = " ".join(str(cmd).split())[:140]
        out.append(f"| `{path.name}` | {('`' + cmd.replace('|', '/') + '`') if cmd else 'see the file'} |")
    return out + [""]


def page(plot: bool = False) -> str:
    parts = ["# Measured results", "",
             "Written by `python benchmarks/results_page.py` from the files in `results/`; every "
             "figure below names the command that measured it. Measured on the 2-core CPU the "
             "course is built on (no GPU); timings carry the load average they ran under.", ""]
    parts += section_times() + section_leaderboard(load("leaderboard"), plot) + section_models()
    parts += section_data_and_fad() + section_reliability() + section_index()
    # paths as the benchmarks recorded them, relative to the checkout they ran in
    text = re.sub(r"(?<![\w.])/(?:[\w.+-]+/)+?(?=(?:datasets|samples|runs|coursekit)/)", "", "\n".join(parts))
    return text.rstrip() + "\n"


def readme_with_table(text: str) -> str:
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SystemExit(f"README.md: the markers {TABLE_BEGIN!r} and {TABLE_END!r} are missing")
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_BEGIN}\n{chapter_table()}\n{TABLE_END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when RESULTS.md or README.md is out of date")
    args = ap.parse_args(argv)
    readme = README.read_text()
    if args.check:
        stale = [p.name for p, want in ((PAGE, page()), (README, readme_with_table(readme)))
                 if not p.exists() or p.read_text() != want]
        if stale:
            print(f"out of date: {', '.join(stale)}; run python benchmarks/results_page.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page(plot=True))
    README.write_text(readme_with_table(readme))
    print(f"wrote {PAGE.relative_to(REPO)}, {PLOT.relative_to(REPO)} and the chapter table of README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
