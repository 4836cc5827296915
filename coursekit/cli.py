"""The command line: ``python -m coursekit ...``.

Each subcommand is a thin wrapper: it parses arguments and calls one function in the module
that owns the concept (``coursekit.data``, ``coursekit.eval``, a model file, ...). Run
``python -m coursekit --help`` or ``python -m coursekit COMMAND --help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

MODELS = ("classifier", "rnn", "gan", "codec", "transformer", "diffusion")
# which module trains / samples each model
MODEL_MODULES = {
    "classifier": "coursekit.eval.classifier",
    "rnn": "coursekit.models.rnn",
    "gan": "coursekit.models.gan",
    "codec": "coursekit.models.codec",
    "transformer": "coursekit.models.transformer",
    "diffusion": "coursekit.models.diffusion",
}


class CommandError(Exception):
    """An error the command line reports as one clear line (exit status 2)."""


def _call(module: str, func: str, args) -> int | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("coursekit"):
            raise CommandError(f"'{module}' is not part of this version of coursekit yet") from None
        raise
    fn = getattr(mod, func, None)
    if fn is None:
        raise CommandError(f"{module} has no '{func}': this command is not available yet")
    return fn(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m coursekit", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # doctor ---------------------------------------------------------------------------------
    d = sub.add_parser("doctor", help="versions, device, profile, data root, what is offline and why")
    d.set_defaults(_target=("coursekit.doctor", "cli_doctor"))

    # data -----------------------------------------------------------------------------------
    data = sub.add_parser("data", help="make, fetch or check datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    mk = dsub.add_parser("make", help="write an offline mini dataset in the real on-disk format")
    mk.add_argument("name", choices=["mini-nsynth", "mini-gtzan", "mini-maestro"])
    mk.add_argument("--root", required=True, help="folder to write into")
    mk.add_argument("--size", default="default", choices=["smoke", "default", "full"])
    mk.add_argument("--seed", type=int, default=0)
    mk.set_defaults(_target=("coursekit.data", "cli_make"))
    fe = dsub.add_parser("fetch", help="download a real dataset (pooch, checksums)")
    fe.add_argument("name", choices=["nsynth-train", "nsynth-valid", "nsynth-test", "gtzan",
                                     "maestro", "maestro-midi"])
    fe.add_argument("--root", default=None, help="data root (default: the course's data root)")
    fe.set_defaults(_target=("coursekit.data.download", "cli_fetch"))
    ch = dsub.add_parser("check", help="validate a dataset folder; exit 1 when a problem is found")
    ch.add_argument("kind", choices=["nsynth", "gtzan", "maestro"])
    ch.add_argument("dir")
    ch.set_defaults(_target=("coursekit.data", "cli_check"))

    # train / sample -------------------------------------------------------------------------
    tr = sub.add_parser("train", help="train one of the course's models")
    tr.add_argument("model", choices=MODELS)
    tr.add_argument("--profile", default=None, choices=["smoke", "default", "full"])
    tr.add_argument("--out", required=True, help="checkpoint file to write")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--data", default=None, help="dataset folder (default: from the profile)")
    tr.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    tr.add_argument("--task", default=None, help="model-specific task (e.g. notes, piano, genres)")
    tr.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    tr.add_argument("--time-budget", type=float, default=None, help="seconds (default: profile)")
    tr.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning; "
                    "transformer, codec, diffusion)")
    tr.add_argument("--decoder-only", action="store_true", help="codec: with --init, train the decoder "
                    "alone; codes and latents stay the same, so models trained on them stay valid")
    tr.add_argument("--synthetic-notes", type=int, default=0, help="codec: add this many synthetic "
                    "harmonic notes (MIDI 55-106) to the training mix; the mini datasets have few high notes")
    tr.add_argument("--stft-floor", type=float, default=None, help="codec: floor of the log-STFT loss "
                    "(default 0.1; 0.01 makes quiet decaying tails count)")
    tr.add_argument("--frame-loss", type=float, default=None, help="codec: weight of a frame-by-frame "
                    "spectral convergence term in which quiet frames count as much as loud ones (e.g. 1; "
                    "default 0)")
    tr.add_argument("--freeze-codebooks", action="store_true", help="codec: with --init, keep the "
                    "codebooks still while the encoder and decoder learn (a code keeps its latent)")
    tr.add_argument("--anchor", type=float, default=None, help="codec: with --init, weight of a term "
                    "keeping the latents of loud frames where --init's encoder put them (e.g. 1; default 0)")
    tr.add_argument("--keep-encoder", action="store_true", help="codec: with --init, write --init's encoder "
                    "and codebooks back beside the newly trained decoder, so codes and latents stay exactly "
                    "what they were (models trained on them stay valid)")
    tr.add_argument("--codec", default=None, help="codec checkpoint whose latents are modelled "
                    "(diffusion; default: the reference codec)")
    tr.set_defaults(_target=None, _func="cli_train")

    sa = sub.add_parser("sample", help="generate notes into an NSynth-format folder")
    sa.add_argument("model", choices=MODELS[1:])
    sa.add_argument("--n", type=int, default=16)
    sa.add_argument("--out", required=True)
    sa.add_argument("--checkpoint", default=None)
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--pitch", type=int, default=None)
    sa.add_argument("--family", default=None)
    sa.add_argument("--prompt", default=None)
    sa.add_argument("--genre", default=None)
    sa.add_argument("--seconds", type=float, default=None)
    sa.add_argument("--cfg", type=float, default=None)
    sa.add_argument("--steps", type=int, default=None)
    sa.add_argument("--temperature", type=float, default=None)
    sa.add_argument("--top-k", type=int, default=None, help="transformer: keep the k likeliest codes")
    sa.add_argument("--top-p", type=float, default=None, help="transformer: nucleus sampling "
                    "(notes default: the profile's, 0.8)")
    sa.add_argument("--device", default=None)
    sa.set_defaults(_target=None, _func="cli_sample")

    # codec ----------------------------------------------------------------------------------
    co = sub.add_parser("codec", help="neural codec utilities")
    cosub = co.add_subparsers(dest="codec_command", metavar="ACTION")
    cosub.required = True
    rc = cosub.add_parser("reconstruct", help="encode and decode every file of a folder")
    rc.add_argument("in_dir")
    rc.add_argument("out_dir")
    rc.add_argument("--n-q", type=int, default=None)
    rc.add_argument("--checkpoint", default=None)
    rc.set_defaults(_target=("coursekit.models.codec", "cli_reconstruct"))

    # evaluation -----------------------------------------------------------------------------
    fa = sub.add_parser("fad", help="Frechet Audio Distance between two folders")
    fa.add_argument("ref")
    fa.add_argument("gen")
    fa.add_argument("--embedding", default="crepe")
    fa.add_argument("--json", action="store_true")
    fa.set_defaults(_target=("coursekit.eval.evaluate", "cli_fad"))
    ev = sub.add_parser("eval", help="FAD plus pitch and family accuracy of a generated folder")
    ev.add_argument("gen")
    ev.add_argument("--ref", required=True)
    ev.add_argument("--embeddings", default="crepe,mel,classifier")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(_target=("coursekit.eval.evaluate", "cli_eval"))

    lb = sub.add_parser("leaderboard", help="sample and evaluate every reference model")
    lb.add_argument("--out", default="results/leaderboard")
    lb.set_defaults(_target=("coursekit.leaderboard", "cli_leaderboard"))

    # listening test (chapter 08) ------------------------------------------------------------
    li = sub.add_parser("listening", help="serve a MOS/MUSHRA listening test (Voila), analyse results")
    lisub = li.add_subparsers(dest="listening_command", metavar="ACTION")
    lisub.required = True
    ls_ = lisub.add_parser("serve", help="build (or reuse) a test from system folders and serve it")
    ls_.add_argument("--systems", nargs="+", default=None, help="one folder of samples a system")
    ls_.add_argument("--results", required=True, help="JSON-lines results file (appended to)")
    ls_.add_argument("--protocol", default="mos", choices=["mos", "mushra"])
    ls_.add_argument("--reference", default=None, help="folder of reference samples (MUSHRA)")
    ls_.add_argument("--test-dir", default=None, help="test folder (default: RESULTS-test/ beside it)")
    ls_.add_argument("--n-items", type=int, default=None)
    ls_.add_argument("--seconds", type=float, default=None)
    ls_.add_argument("--seed", type=int, default=0)
    ls_.add_argument("--port", type=int, default=8866)
    ls_.add_argument("--ip", default="127.0.0.1", help="0.0.0.0 to let raters on the network in")
    ls_.set_defaults(_target=("coursekit.eval.listening", "cli_serve"))
    la = lisub.add_parser("analyse", help="MOS/MUSHRA table, Friedman, pairwise Wilcoxon (Holm)")
    la.add_argument("results", nargs="+", help="results file(s); several merge")
    la.add_argument("--fad", default=None, help="JSON {system: fad} to correlate with the ratings")
    la.add_argument("--n-boot", type=int, default=2000)
    la.add_argument("--no-screen", action="store_true", help="keep MUSHRA raters who fail screening")
    la.add_argument("--json", action="store_true")
    la.set_defaults(_target=("coursekit.eval.listening", "cli_analyse"))

    # exercises ------------------------------------------------------------------------------
    ex = sub.add_parser("exercises", help="build exercises/ from solutions/, or check they agree")
    exsub = ex.add_subparsers(dest="exercises_command", metavar="ACTION")
    exsub.required = True
    b = exsub.add_parser("build", help="write exercises/*.ipynb from solutions/*.ipynb")
    b.set_defaults(_target=("coursekit.exercises", "cli_build"))
    c = exsub.add_parser("check", help="exit 1 when exercises/ is out of sync with solutions/")
    c.set_defaults(_target=("coursekit.exercises", "cli_check"))
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    target = args._target or (MODEL_MODULES[args.model], args._func)
    try:
        rc = _call(*target, args)
    except CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        # Bad input: one clear line, no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        if not err.name or err.name.startswith("coursekit"):
            raise                               # a bug of ours, not a missing install
        # a package the course depends on is missing from the Python that runs this command
        print(f"error: this command needs the package '{err.name.split('.')[0]}', which {sys.executable} "
              "does not have: run it with the Python the course is installed in, or install the course "
              "into this one (pip install -e \".[dev]\", see the README)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
