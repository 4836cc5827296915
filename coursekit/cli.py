"""The command line: ``python -m coursekit ...``.

Each subcommand is a thin wrapper: it parses arguments and calls one function in the module
that owns the concept (``coursekit.data``, ``coursekit.eval``, a model's recipe, ...). Run
``python -m coursekit --help`` or ``python -m coursekit COMMAND --help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .argtypes import MAX_SAMPLE_N, at_most, port, positive_float, positive_int, sample_n, seed
from .profiles import PROFILE_NAMES

# the module that owns each model's commands: its flags (add_train_arguments,
# add_sample_arguments) and what they do (train_command, sample_command)
RECIPES = {
    "classifier": "coursekit.eval.classifier",
    "rnn": "coursekit.recipes.rnn",
    "gan": "coursekit.recipes.gan",
    "codec": "coursekit.recipes.codec",
    "transformer": "coursekit.recipes.transformer",
    "diffusion": "coursekit.recipes.diffusion",
    "piano": "coursekit.recipes.piano",
}
MODELS = tuple(RECIPES)
GENERATORS = ("rnn", "gan", "transformer", "diffusion", "piano")  # the models `sample` knows
MODEL_HELP = {
    "classifier": "the note classifier behind the pitch and family metrics",
    "rnn": "SampleRNN-lite over mu-law samples (chapter 02)",
    "gan": "GANSynth-lite over spectrogram features (chapter 03)",
    "codec": "the neural audio codec (chapter 04)",
    "transformer": "the Transformer over codec tokens (chapter 05)",
    "diffusion": "latent diffusion over codec latents (chapter 06)",
    "piano": "latent diffusion playing a MIDI score on the piano (chapter 06, part 2)",
}


def _call(module: str, func: str, args) -> int | None:
    return getattr(importlib.import_module(module), func)(args)



def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser of ``python -m coursekit``; the flags of a model's ``train`` and ``sample`` are
    its recipe's, added for the models named in ``argv`` (all of them when ``argv`` is None)."""
    wanted = set(MODELS) if argv is None else set(argv) & set(MODELS)
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
    mk.add_argument("--size", default="default", choices=PROFILE_NAMES)
    mk.add_argument("--seed", type=seed, default=0)
    mk.add_argument("--sound", default="sampled", choices=["sampled", "additive"],
                    help="how notes sound: played from the General MIDI SoundFont's recorded instruments "
                         "(sampled, as NSynth was made) or built by additive synthesis")
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

    # train / sample: one subcommand a model, each with its own flags ------------------------
    tr = sub.add_parser("train", help="train one of the course's models")
    trsub = tr.add_subparsers(dest="model", metavar="MODEL")
    trsub.required = True
    sa = sub.add_parser("sample", help="generate notes or clips into an NSynth-format folder")
    sasub = sa.add_subparsers(dest="model", metavar="MODEL")
    sasub.required = True
    for model in MODELS:
        t = trsub.add_parser(model, help=MODEL_HELP[model])
        t.add_argument("--profile", default=None, choices=PROFILE_NAMES)
        t.add_argument("--out", required=True, help="checkpoint file to write")
        t.add_argument("--seed", type=seed, default=0)
        t.add_argument("--data", default=None, help="dataset folder (default: from the profile)")
        t.add_argument("--resume", action="store_true", help="continue the interrupted run that "
                       "writes --out from its last checkpoint")
        t.add_argument("--overwrite", action="store_true", help="replace an existing --out "
                       "(the old file stays until the new one is complete)")
        t.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
        t.add_argument("--time-budget", type=positive_float, default=None,
                       help="seconds (default: profile)")
        t.set_defaults(_target=(RECIPES[model], "train_command"))
        recipe = importlib.import_module(RECIPES[model]) if model in wanted else None
        if recipe is not None:  # the model's own flags (importing its recipe imports torch)
            recipe.add_train_arguments(t)
        if model not in GENERATORS:
            continue
        s = sasub.add_parser(model, help=MODEL_HELP[model])
        s.add_argument("--n", type=sample_n, default=16,
                       help=f"how many notes or clips (at most {MAX_SAMPLE_N})")
        s.add_argument("--out", required=True, help="folder to write (NSynth format): new, empty, "
                       "or one the course wrote")
        s.add_argument("--overwrite", action="store_true", help="write into a folder that holds "
                       "other files, replacing its examples.json and the audio that lists")
        s.add_argument("--checkpoint", default=None, help="default: the reference checkpoint")
        s.add_argument("--seed", type=seed, default=0)
        s.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
        s.set_defaults(_target=(RECIPES[model], "sample_command"))
        if recipe is not None:
            recipe.add_sample_arguments(s)

    # codec ----------------------------------------------------------------------------------
    co = sub.add_parser("codec", help="neural codec utilities")
    cosub = co.add_subparsers(dest="codec_command", metavar="ACTION")
    cosub.required = True
    rc = cosub.add_parser("reconstruct", help="encode and decode every file of a folder")
    rc.add_argument("in_dir")
    rc.add_argument("out_dir")
    rc.add_argument("--n-q", type=positive_int, default=None, help="quantizers to use (default: all)")
    rc.add_argument("--checkpoint", default=None)
    rc.add_argument("--overwrite", action="store_true", help="write into an OUT_DIR that holds "
                    "files the course did not write, replacing the files of the same names")
    rc.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    rc.set_defaults(_target=("coursekit.recipes.codec", "reconstruct_command"))

    # evaluation -----------------------------------------------------------------------------
    fa = sub.add_parser("fad", help="Frechet and Kernel Audio Distance between two folders")
    fa.add_argument("ref")
    fa.add_argument("gen")
    fa.add_argument("--embedding", default="crepe")
    fa.add_argument("--metric", default="both", choices=["both", "fad", "kad"],
                    help="FAD, KAD (kernel audio distance) or both (default)")
    fa.add_argument("--json", action="store_true")
    fa.set_defaults(_target=("coursekit.eval.evaluate", "cli_fad"))
    ev = sub.add_parser("eval", help="FAD, KAD, pitch and family accuracy of a generated folder")
    ev.add_argument("gen")
    ev.add_argument("--ref", required=True)
    ev.add_argument("--embeddings", default="crepe,mel,classifier")
    ev.add_argument("--metric", default="both", choices=["both", "fad", "kad"],
                    help="distances to compute: FAD, KAD or both (default)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(_target=("coursekit.eval.evaluate", "cli_eval"))

    lb = sub.add_parser("leaderboard", help="sample and evaluate every reference model")
    lb.add_argument("--out", default="results/leaderboard")
    lb.add_argument("--overwrite", action="store_true", help="replace an --out.json/.md that is "
                    "not an earlier leaderboard's")
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
    ls_.add_argument("--n-items", type=positive_int, default=None)
    ls_.add_argument("--seconds", type=positive_float, default=None)
    ls_.add_argument("--seed", type=seed, default=0)
    ls_.add_argument("--port", type=port, default=8866)
    ls_.add_argument("--ip", default="127.0.0.1", help="0.0.0.0 to let raters on the network in")
    ls_.set_defaults(_target=("coursekit.eval.listening", "cli_serve"))
    la = lisub.add_parser("analyse", help="MOS/MUSHRA table, Friedman, pairwise Wilcoxon (Holm)")
    la.add_argument("results", nargs="+", help="results file(s); several merge")
    la.add_argument("--fad", default=None, help="JSON {system: fad} to correlate with the ratings")
    la.add_argument("--systems", nargs="+", default=None, metavar="DIR",
                    help="the test's folders of samples (one a system): adds which metric (FAD, KAD, "
                         "mel distance, CREPE pitch) agrees with the ratings, per system and clip")
    la.add_argument("--real", default=None, metavar="DIR",
                    help="with --systems: other real notes, the reference of FAD and KAD")
    la.add_argument("--paired", default=None, metavar="DIR",
                    help="with --systems: real notes of the same file names (for the mel distance)")
    la.add_argument("--test-dir", default=None, metavar="DIR",
                    help="with --systems: the test folder, to find each rated file exactly")
    la.add_argument("--n-boot", type=at_most(positive_int, 100_000, "each round is held in memory"),
                    default=2000)
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


def check_train_out(args) -> None:
    """Before a training run starts: ``--out`` is a ``.pt`` file it may write (an existing one
    only with ``--overwrite``; ``--resume`` needs the interrupted run's state beside it)."""
    from .outputs import UserError, check_new_file
    from .recipes import resume_path

    out = Path(args.out)
    if out.suffix != ".pt":
        raise UserError(f"--out {out}: give a checkpoint file name ending in .pt (its card is "
                        "written beside it, as NAME.json)")
    state = resume_path(out)
    if args.resume:
        if not state.is_file():
            raise UserError(f"--resume: {state} does not exist, so there is no interrupted run of "
                            f"--out {out} to continue; drop --resume to start afresh")
        return
    check_new_file(out, overwrite=args.overwrite, also=(out.with_suffix(".json"),))
    if state.exists() and not args.overwrite:
        raise UserError(f"--out {out}: {state} holds an interrupted run; pass --resume to continue "
                        "it, or --overwrite to start afresh")


# the arguments that name a file or folder: an empty one would mean the current folder
PATH_OPTIONS = {"out": "--out", "root": "--root", "data": "--data", "checkpoint": "--checkpoint",
                "init": "--init", "ref": "REF", "gen": "GEN", "in_dir": "IN_DIR", "out_dir": "OUT_DIR",
                "dir": "DIR", "test_dir": "--test-dir", "reference": "--reference", "fad": "--fad",
                "prompt": "--prompt", "codec": "--codec", "midi": "--midi"}


def _before(args) -> None:
    """What every command of a kind checks before it starts its (possibly long) work."""
    from .outputs import UserError

    for dest, name in PATH_OPTIONS.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            raise UserError(f"{name}: an empty path (it would mean the current folder); give a "
                            "file or folder name")
    if args.command == "train":
        check_train_out(args)
    elif args.command == "sample":
        from .outputs import claim_dir
        claim_dir(args.out, overwrite=args.overwrite, create=False)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
        _before(args)
        rc = _call(*args._target, args)
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        # Bad input: one clear line, no traceback.
        if isinstance(err, OSError) and err.filename is not None:
            from .outputs import os_error_line
            err = os_error_line(err)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an unwritable folder, a full disk, a folder where a file was meant
        from .outputs import os_error_line
        print(f"error: {os_error_line(err)}", file=sys.stderr)
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
