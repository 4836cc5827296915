"""The listening test on a web page for remote raters (Voila), and its command line.

:func:`serve` copies the page notebook (``coursekit/listening_app/listening_test.ipynb``) into
a temporary folder and starts Voila on it (:class:`VoilaProcess`; the folder is removed when
the server stops); the page calls :func:`app_from_config`, which reads the test folder and the
results file from the JSON file that :func:`write_config` wrote and
``$COURSEKIT_LISTENING_CONFIG`` names. :func:`cli_serve` is ``python -m coursekit listening serve``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ..outputs import UserError
from .listening_app import _PARTICIPANT_RE, ListeningApp
from .listening_store import open_results
from .listening_trials import ListeningTest, TestFolderTaken, build_test, load_test

__all__ = ["CONFIG_ENV", "APP_NOTEBOOK", "write_config", "app_from_config", "serve", "cli_serve",
           "VoilaProcess"]

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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VoilaProcess(subprocess.Popen):
    """The Voila server :func:`serve` started: a :class:`subprocess.Popen` whose
    :meth:`terminate` (or :meth:`stop`) also waits for the server to end and removes the
    temporary folder it served the page from. When Python exits first, that happens then."""

    work: Path | None = None

    def _attach(self, work: Path, log=None) -> None:
        self.work = work
        self._cleanup = weakref.finalize(self, _shutdown, self, work, log)

    def terminate(self) -> None:
        """End the server (SIGTERM, SIGKILL after 10 s) and remove its temporary folder."""
        cleanup = getattr(self, "_cleanup", None)
        if cleanup is None:
            super().terminate()
        else:
            cleanup()

    stop = terminate


def _shutdown(proc: subprocess.Popen, work: Path, log=None, timeout: float = 10.0) -> None:
    """End ``proc`` if it still runs, close ``log``, remove the folder ``work``."""
    try:
        if proc.poll() is None:
            subprocess.Popen.terminate(proc)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        if log is not None:
            log.close()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def _stop_signals_interrupt():
    """While serving from the command line, SIGTERM and SIGHUP end the wait as Ctrl-C does, so
    the server is stopped and its folder removed on every way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    before = {n: signal.signal(getattr(signal, n), interrupt) for n in names}
    try:
        yield
    finally:
        for n, handler in before.items():
            signal.signal(getattr(signal, n), handler)


def _last_line(path: Path) -> str:
    try:
        lines = [x.strip() for x in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    return next((x for x in reversed(lines) if x), "")


def _voila_command(page: Path, port: int, ip: str) -> list[str]:
    return [sys.executable, "-m", "voila", str(page), "--no-browser", f"--port={port}",
            f"--Voila.ip={ip}", "--show_tracebacks=False", "--theme=light"]


def _start(test: ListeningTest, results, port: int, ip: str, log) -> VoilaProcess:
    """Copy the page and its config into a new temporary folder and start Voila there."""
    work = Path(tempfile.mkdtemp(prefix="coursekit-listening-"))
    own_log = None
    try:
        page_dir = work / "page"
        page_dir.mkdir()
        page = page_dir / "listening_test.ipynb"
        shutil.copyfile(APP_NOTEBOOK, page)
        config = write_config(work / "config.json", test, results)
        env = dict(os.environ, **{CONFIG_ENV: str(config)})
        if log is None:
            log = own_log = open(work / "voila.log", "wb")
        proc = VoilaProcess(_voila_command(page, port, ip), env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=str(page_dir))
    except BaseException:
        if own_log is not None:
            own_log.close()
        shutil.rmtree(work, ignore_errors=True)
        raise
    proc._attach(work, own_log)
    return proc


def _wait_until_up(proc: VoilaProcess, ip: str, port: int, timeout: float) -> None:
    host = "127.0.0.1" if ip in ("0.0.0.0", "") else ip
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            said = _last_line(proc.work / "voila.log")
            raise UserError(f"voila exited with status {proc.returncode} before the page was up"
                            + (f": {said}" if said else ""))
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.time() > deadline:
                said = _last_line(proc.work / "voila.log")
                raise UserError(f"voila did not start within {timeout:.0f} s"
                                + (f" (it said: {said})" if said else "")
                                + f"; is port {port} free?") from None
            time.sleep(0.2)


def serve(test, results, port: int = 8866, ip: str = "127.0.0.1", wait: bool = True,
          timeout: float = 60.0, log=None):
    """Serve ``test`` as a web page with Voila; raters need only a browser.

    The page notebook is copied into a fresh temporary folder (so nothing else can be
    browsed), beside the config it reads (test folder, results file). The folder is removed
    when the server stops, however it stops (Ctrl-C, SIGTERM, the server ending, an error
    while starting, Python exiting). Participants open ``http://<host>:<port>/?participant=CODE``
    (without the code they are asked for one).

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
        Where Voila's output goes (default: a log file in the temporary folder).

    Returns
    -------
    (VoilaProcess, str)
        The Voila process and the page URL (when ``wait`` is False; stop it with
        ``proc.terminate()``, which also removes the temporary folder).
    """
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise UserError('the listening page needs Voilà, which comes with the listening extra: '
                        'pip install "coursekit[listening]"')
    test = test if isinstance(test, ListeningTest) else load_test(test)
    if not APP_NOTEBOOK.exists():
        raise FileNotFoundError(f"{APP_NOTEBOOK}: the page notebook is missing from this install")
    open_results(results, test)
    port = _free_port() if port == 0 else int(port)
    url = f"http://{'127.0.0.1' if ip in ('0.0.0.0', '') else ip}:{port}/"
    with _stop_signals_interrupt() if wait else nullcontext():
        proc = _start(test, results, port, ip, log)
        running = False  # True once the server is handed to the caller (wait=False)
        try:
            _wait_until_up(proc, ip, port, timeout)
            if not wait:
                running = True
                return proc, url
            print(f"Listening test {test.test_id} ({test.protocol.upper()}, {test.n_trials} trials) "
                  f"at {url}\n  give each rater their own link: {url}?participant=P01, "
                  f"{url}?participant=P02, ...\n  answers go to {Path(results).resolve()}\n"
                  "  stop with Ctrl-C", flush=True)
            try:
                proc.wait()
            except KeyboardInterrupt:
                pass
        finally:
            if not running:
                proc.terminate()
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
        except TestFolderTaken as err:
            if err.test_id is None:
                raise UserError(f"--test-dir {err}") from None
            raise UserError(f"--test-dir {test_dir} holds another test ({err.test_id}); choose "
                            "another --test-dir for this one, or serve that test by leaving out "
                            "--systems (nothing in it was changed)") from None
    elif not (test_dir / "test.json").exists():
        raise FileNotFoundError(f"{test_dir}: no test built there yet; give --systems DIR ... "
                                "(and --reference DIR for MUSHRA) to build one")
    else:
        test = load_test(test_dir)
    serve(test, args.results, port=args.port, ip=args.ip, wait=True)
    return 0
