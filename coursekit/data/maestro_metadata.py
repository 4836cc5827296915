"""MAESTRO's metadata: finding the file and reading it (v3 CSV, v3 column-oriented JSON, v2 list of
records) into one dict per performance, and filtering the rows. Importable from
:mod:`coursekit.data.maestro` too.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

SPLITS = ("train", "validation", "test")
FIELDS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename",
          "audio_filename", "duration")
METADATA_NAMES = ("maestro-v3.0.0.csv", "maestro-v3.0.0.json", "maestro-v2.0.0.json",
                  "maestro-v2.0.0.csv", "maestro-v1.0.0.json", "maestro-v1.0.0.csv")


def find_metadata(folder_or_file) -> Path:
    """The metadata file: ``folder_or_file`` itself, or the one found in the folder.

    In a folder, ``maestro-v3.0.0.csv`` is preferred, then the v3 JSON, then older versions,
    then any single ``maestro-*.csv`` / ``maestro-*.json``.
    """
    p = Path(folder_or_file).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder; give the maestro-v3.0.0/ folder "
                                "(as the archive unpacks) or its .csv/.json metadata file")
    if p.is_file():
        return p
    for name in METADATA_NAMES:
        if (p / name).is_file():
            return p / name
    others = sorted(p.glob("maestro-*.csv")) + sorted(p.glob("maestro-*.json"))
    if others:
        return others[0]
    raise FileNotFoundError(f"{p}: no MAESTRO metadata here (expected maestro-v3.0.0.csv or "
                            "maestro-v3.0.0.json); give the maestro-v3.0.0/ folder as the archive "
                            "unpacks it")


def _typed(row: dict, where: str) -> dict:
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}; MAESTRO metadata has "
                         f"{', '.join(FIELDS)}")
    out = {f: row[f] for f in FIELDS}
    try:
        out["year"] = int(out["year"])
        out["duration"] = float(out["duration"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: year {row['year']!r} or duration {row['duration']!r} is not a "
                         "number") from None
    for f in ("canonical_composer", "canonical_title", "split", "midi_filename", "audio_filename"):
        out[f] = "" if out[f] is None else str(out[f])
    return out


def _read_csv(path: Path) -> list[dict]:
    # utf-8-sig also accepts a byte-order mark (Excel writes one); newline="" lets the csv
    # module handle line breaks inside quoted titles
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not MAESTRO metadata: column(s) {', '.join(missing)} missing "
                             f"(header is {reader.fieldnames})")
        return [_typed(r, f"{path.name} line {reader.line_num}") for r in reader]


def _read_json(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, list):  # v1/v2: a list of records
        return [_typed(r, f"{path.name} record {i}") for i, r in enumerate(data)]
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        # v3: column-oriented, {"field": {"0": value, "1": value, ...}, ...}
        missing = [c for c in FIELDS if c not in data]
        if missing:
            raise ValueError(f"{path}: not MAESTRO metadata: field(s) {', '.join(missing)} missing")
        index = sorted(data[FIELDS[0]], key=int)
        return [_typed({f: data[f].get(i) for f in FIELDS}, f"{path.name} row {i}") for i in index]
    raise ValueError(f"{path}: not MAESTRO metadata: expected a list of records (v2) or an object "
                     "of columns (v3)")


def _fold(text: str) -> str:
    """Lower case without accents, so 'frederic chopin' finds 'Frédéric Chopin'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def filter_rows(rows: list[dict], split=None, year=None, composer=None) -> list[dict]:
    """Keep rows of ``split`` (str or list), ``year`` (int or list) and ``composer`` (a part of
    the name, case- and accent-insensitive)."""
    if split is not None:
        splits = {split} if isinstance(split, str) else set(split)
        bad = splits - set(SPLITS)
        if bad:
            raise ValueError(f"unknown split(s) {sorted(bad)}; MAESTRO splits are {', '.join(SPLITS)}")
        rows = [r for r in rows if r["split"] in splits]
    if year is not None:
        years = {int(year)} if isinstance(year, (int, str)) else {int(y) for y in year}
        rows = [r for r in rows if r["year"] in years]
    if composer is not None:
        needle = _fold(composer)
        rows = [r for r in rows if needle in _fold(r["canonical_composer"])]
    return rows


def read_metadata(folder_or_file, split=None, year=None, composer=None) -> list[dict]:
    """Read MAESTRO metadata (v3 CSV, v3 column-oriented JSON or v2 list-of-records JSON).

    Parameters
    ----------
    folder_or_file : str or Path
        The ``maestro-v3.0.0/`` folder or a metadata file; the format is detected.
    split, year, composer : optional
        Filters, see :func:`filter_rows`.

    Returns
    -------
    list of dict
        One dict per performance with the seven fields of :data:`FIELDS`; ``year`` is an int,
        ``duration`` a float (seconds, from the MIDI), file names relative to the folder.

    Example
    -------
    >>> rows = read_metadata("maestro-v3.0.0")          # doctest: +SKIP
    >>> len(rows), rows[0]["canonical_composer"]         # doctest: +SKIP
    (1276, 'Alban Berg')
    """
    path = find_metadata(folder_or_file)
    if path.suffix.lower() == ".csv":
        rows = _read_csv(path)
    elif path.suffix.lower() == ".json":
        rows = _read_json(path)
    else:
        raise ValueError(f"{path}: MAESTRO metadata is a .csv or .json file")
    return filter_rows(rows, split, year, composer)
