"""The listening test on a web page for remote raters (Voila), and its command line.

:func:`serve` copies the page notebook (``coursekit/listening_app/listening_test.ipynb``) into
an otherwise empty folder and starts Voila on it; the page calls :func:`app_from_config`, which
reads the test folder and the results file from the JSON file that :func:`write_config` wrote
and ``$COURSEKIT_LISTENING_CONFIG`` names. :func:`cli_serve` is
``python -m coursekit listening serve``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from .listening_app import _PARTICIPANT_RE, ListeningApp
from .listening_store import open_results
from .listening_trials import ListeningTest, build_test, load_test

__all__ = ["CONFIG_ENV", "APP_NOTEBOOK", "write_config", "app_from_config", "serve", "cli_serve"]

CONFIG_ENV = "COURSEKIT_LISTENING_CONFIG"
APP_NOTEBOOK = Path(__file__).resolve().parents[1] / "listening_app" / "listening_test.ipynb"


def write_config(path, test, results, participant: str | None = None) -> Path:
    """Write the JSON file the Voila page reads (``$COURSEKIT_LISTENING_CONFIG``)."""
    test = test if isinstance(test, ListeningTest) else load_test(test)
    cfg = {"test": str(test.folder.resolve()), "results": str(Path(results).resolve())}
    if participant:
        cfg["participant"] = participant
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    return path


def app_from_config(config=None) -> ListeningApp:
    """The interface of the test named by a config: what the Voila page displays.

    ``config`` is a dict or a JSON file with ``test`` (folder) and ``results`` (file), and
    optionally ``participant``; default: the file named by ``$COURSEKIT_LISTENING_CONFIG``.
    A ``participant=CODE`` in the page's URL (Voila passes it as ``$QUERY_STRING``) starts the
    session of that participant directly.
    """
    from urllib.parse import parse_qs

    if config is None:
        env = os.environ.get(CONFIG_ENV)
        if not env:
            raise ValueError(f"no listening test configured: set ${CONFIG_ENV} to a JSON file "
                             "with 'test' and 'results' (python -m coursekit listening serve does)")
        config = env
    if not isinstance(config, dict):
        config = json.loads(Path(config).read_text(encoding="utf-8"))
    missing = [k for k in ("test", "results") if k not in config]
    if missing:
        raise ValueError(f"the listening-test config lacks {missing}; it needs 'test' (folder) "
                         "and 'results' (file)")
    participant = config.get("participant")
    query = parse_qs(os.environ.get("QUERY_STRING", ""))
    if query.get("participant"):
        participant = query["participant"][0]
    if participant is not None and not _PARTICIPANT_RE.match(participant):
        participant = None  # ask on the page instead
    return ListeningApp(config["test"], config["results"], participant=participant)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(test, results, port: int = 8866, ip: str = "127.0.0.1", wait: bool = True,
          timeout: float = 60.0, log=None):
    """Serve ``test`` as a web page with Voila; raters need only a browser.

    The page notebook is copied into a fresh, otherwise empty folder (so nothing else can be
    browsed), and the config it reads (test folder, results file) is written to a separate one.
    Participants open ``http://<host>:<port>/?participant=CODE`` (without the code they are
    asked for one).

    Parameters
    ----------
    test : ListeningTest or folder
    results : str or Path
    port : int
        0 picks a free port.
    ip : str
        ``'127.0.0.1'`` (this machine only) or ``'0.0.0.0'`` (raters on the network).
    wait : bool
        Block until Ctrl-C (the command line), or return at once with the running server.
    timeout : float
        Seconds to wait for the server to accept connections.
    log : file, optional
        Where Voila's output goes (default: a log file beside the config).

    Returns
    -------
    (subprocess.Popen, str)
        The Voila process and the page URL (when ``wait`` is False; stop it with
        ``proc.terminate()``).
    """
    import socket
    import subprocess
    import tempfile

    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise RuntimeError('the listening page needs Voilà, which comes with the listening extra: '
                           'pip install "coursekit[listening]"')
    test = test if isinstance(test, ListeningTest) else load_test(test)
    if not APP_NOTEBOOK.exists():
        raise FileNotFoundError(f"{APP_NOTEBOOK}: the page notebook is missing from this install")
    open_results(results, test)
    port = _free_port() if port == 0 else int(port)
    work = Path(tempfile.mkdtemp(prefix="coursekit-listening-"))
    page_dir = work / "page"
    page_dir.mkdir()
    page = page_dir / "listening_test.ipynb"
    shutil.copyfile(APP_NOTEBOOK, page)
    config = write_config(work / "config.json", test, results)
    env = dict(os.environ, **{CONFIG_ENV: str(config)})
    cmd = [sys.executable, "-m", "voila", str(page), "--no-browser", f"--port={port}",
           f"--Voila.ip={ip}", "--show_tracebacks=False", "--theme=light"]
    log = log if log is not None else open(work / "voila.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(page_dir))
    url = f"http://{'127.0.0.1' if ip in ('0.0.0.0', '') else ip}:{port}/"
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with status {proc.returncode}; see {work / 'voila.log'}")
        try:
            with socket.create_connection(("127.0.0.1" if ip == "0.0.0.0" else ip, port), timeout=1):
                break
        except OSError:
            if time.time() > deadline:
                proc.terminate()
                raise TimeoutError(f"voila did not start within {timeout:.0f} s; see {work / 'voila.log'}")
            time.sleep(0.2)
    if not wait:
        return proc, url
    print(f"Listening test {test.test_id} ({test.protocol.upper()}, {test.n_trials} trials) at {url}\n"
          f"  give each rater their own link: {url}?participant=P01, {url}?participant=P02, ...\n"
          f"  answers go to {Path(results).resolve()}\n  stop with Ctrl-C")
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc, url



# ---------------------------------------------------------------------------------------------
# Command line: python -m coursekit listening serve
# ---------------------------------------------------------------------------------------------

def cli_serve(args) -> int:
    """``listening serve --systems DIR... --results FILE``: build (or reuse) the test, serve it."""
    results = Path(args.results)
    test_dir = Path(args.test_dir) if args.test_dir else results.parent / f"{results.stem}-test"
    if args.systems:
        try:
            test = build_test(args.systems, test_dir, protocol=args.protocol, reference=args.reference,
                              n_items=args.n_items, seconds=args.seconds, seed=args.seed)
        except FileExistsError as err:
            raise ValueError(str(err)) from None
    elif not (test_dir / "test.json").exists():
        raise FileNotFoundError(f"{test_dir}: no test built there yet; give --systems DIR ... "
                                "(and --reference DIR for MUSHRA) to build one")
    else:
        test = load_test(test_dir)
    serve(test, args.results, port=args.port, ip=args.ip, wait=True)
    return 0
