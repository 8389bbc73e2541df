"""An embedded, crash-safe results store: one SQLite row per fit.

SQLite in write-ahead-log mode with one transaction per fit gives what a
long benchmark needs: a fit is either fully written or absent (a kill at any
moment loses nothing already committed), several processes may write the same
file at once (writers queue on SQLite's lock), and readers never block
writers. Each row is keyed by a hash of what defines the fit, so a rerun skips
finished fits and two writers racing on the same fit keep one row.
"""

# License: BSD (3-clause)

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from hashlib import sha1
from pathlib import Path

import pandas as pd

__all__ = ["FitRecord", "ResultsStore", "fit_key", "package_versions"]

_SCHEMA_VERSION = "1"

_COLUMNS = (
    ("key", "TEXT PRIMARY KEY"),
    ("dataset", "TEXT NOT NULL"),
    ("protocol", "TEXT NOT NULL"),
    ("subject", "TEXT NOT NULL"),
    ("session", "TEXT NOT NULL"),
    ("fold", "INTEGER NOT NULL"),
    ("pipeline", "TEXT NOT NULL"),
    ("params_hash", "TEXT NOT NULL"),
    ("params", "TEXT"),
    ("score", "REAL"),
    ("scores", "TEXT"),
    ("fit_time", "REAL"),
    ("score_time", "REAL"),
    ("samples", "INTEGER"),
    ("samples_test", "INTEGER"),
    ("n_classes", "INTEGER"),
    ("channels", "INTEGER"),
    ("n_sessions", "INTEGER"),
    ("device", "TEXT"),
    ("versions", "TEXT"),
    ("host", "TEXT"),
    ("created", "REAL"),
    # Last: added to files written before them (ALTER TABLE appends).
    ("data_hash", "TEXT DEFAULT ''"),
    ("numerics", "TEXT DEFAULT ''"),
)
#: Columns appended after schema version 1 was first written.
_APPENDED = ("data_hash", "numerics")
_COLUMN_NAMES = tuple(name for name, _ in _COLUMNS)
# What identifies a fit: the same values mean the same computation.
_KEY_FIELDS = (
    "dataset",
    "protocol",
    "subject",
    "session",
    "fold",
    "pipeline",
    "params_hash",
    "data_hash",
)


def fit_key(
    dataset: str,
    protocol: str,
    subject: str,
    session: str,
    fold: int,
    pipeline: str,
    params_hash: str,
    data_hash: str = "",
) -> str:
    """Return the key that identifies one fit in the store.

    Parameters
    ----------
    dataset, protocol, subject, session : str
        Where the fit's test data comes from and how it was split.
    fold : int
        The fold index within the protocol.
    pipeline : str
        The pipeline name.
    params_hash : str
        Hash of the pipeline's parameters (see
        :func:`mne_neurosketch.benchmark.pipelines.params_hash`).
    data_hash : str
        Hash of what decides the trials (the paradigm's settings and the
        scale); ``""`` leaves it out of the key.

    Returns
    -------
    key : str
        A 40-character hexadecimal digest.
    """
    parts = (dataset, protocol, str(subject), str(session), str(int(fold)), pipeline)
    parts += (params_hash,) + ((data_hash,) if data_hash else ())
    return sha1("\x1f".join(parts).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a fit's result.

    Returns
    -------
    versions : dict
        Package name to version string.
    """
    import importlib.metadata as md

    out = {}
    for name in (
        "mne-neurosketch",
        "torch",
        "braindecode",
        "skorch",
        "scikit-learn",
        "moabb",
        "mne",
        "pyriemann",
        "numpy",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


@dataclass
class FitRecord:
    """One fit's result, as stored.

    Attributes
    ----------
    dataset, protocol, subject, session : str
        Dataset code, protocol name, test subject and test session.
    fold : int
        Fold index within the protocol.
    pipeline : str
        Pipeline name.
    params_hash : str
        Hash of the pipeline parameters: :func:`~mne_neurosketch.benchmark.params_hash` of
        the pipeline.
    score : float
        The protocol's main score (accuracy or ROC AUC).
    fit_time, score_time : float
        Seconds spent in ``fit`` and in scoring.
    samples, samples_test : int
        Number of training and test trials.
    n_classes, channels, n_sessions : int
        Number of classes, channels and sessions of the subject.
    device : str
        Where the fit ran (``"cpu"``, ``"cuda"``, ...).
    params : dict
        The pipeline parameters (JSON-serialisable).
    scores : dict
        Extra scores, e.g. ``{"balanced_accuracy": 0.7}``, and under
        ``"choices"`` what the fit chose on its training trials (e.g.
        ``{"finetune_epoch": 0}``).
    versions : dict
        Package versions (:func:`package_versions`).
    host : str
        Host name of the machine that ran the fit.
    created : float
        Unix time the record was made.
    data_hash : str
        Hash of what decides the trials (the paradigm's settings and the
        scale), part of the key.
    numerics : str
        How a network computed (``"cpu: bf16 / cpu: fused+channels_last+bf16"``:
        its training and inference paths; empty for other pipelines). Not
        part of the key: the kind of machine decides it.
    """

    dataset: str
    protocol: str
    subject: str
    session: str
    fold: int
    pipeline: str
    params_hash: str
    score: float
    fit_time: float
    score_time: float = 0.0
    samples: int = 0
    samples_test: int = 0
    n_classes: int = 0
    channels: int = 0
    n_sessions: int = 1
    device: str = "cpu"
    params: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    versions: dict = field(default_factory=package_versions)
    host: str = field(default_factory=socket.gethostname)
    created: float = field(default_factory=time.time)
    data_hash: str = ""
    numerics: str = ""

    @property
    def key(self) -> str:
        """The record's key (:func:`fit_key`)."""
        return fit_key(*(getattr(self, name) for name in _KEY_FIELDS))

    def _row(self) -> tuple:
        values = asdict(self)
        values["key"] = self.key
        values["subject"] = str(self.subject)
        values["session"] = str(self.session)
        for name in ("params", "scores", "versions"):
            values[name] = json.dumps(values[name], sort_keys=True, default=str)
        return tuple(values[name] for name in _COLUMN_NAMES)


class ResultsStore:
    """Results of a benchmark in one SQLite file, one row per fit.

    Parameters
    ----------
    path : path-like
        The database file; created (with its folder) if missing. Use a local
        disk: SQLite's locking is unreliable on network file systems, so on a
        cluster let the scheduling process write (the default).
    timeout : float
        Seconds a writer waits for another writer's lock before failing.

    Notes
    -----
    The file uses SQLite's write-ahead log with ``synchronous=FULL``: each
    :meth:`add` is one committed transaction, so a process killed at any
    moment leaves every earlier row intact and the file consistent. Rows with
    a key already present are ignored, so concurrent writers of the same fit
    keep exactly one row.
    """

    def __init__(self, path, timeout: float = 60.0):
        self.path = Path(path).expanduser()
        self.timeout = timeout
        if self.path.is_dir():
            raise IsADirectoryError(
                f"The results store path {self.path} is a folder; give a file name, "
                "e.g. results.sqlite."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    def __repr__(self) -> str:
        return f"<ResultsStore | {self.path} | {len(self)} fits>"

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as err:
            raise sqlite3.DatabaseError(
                f"Could not open the results store {self.path}: {err}. It is not "
                "an SQLite file or it is corrupt; give another --results path or "
                "move this file away."
            ) from err
        return con

    def _init_schema(self) -> None:
        cols = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(f"CREATE TABLE IF NOT EXISTS fits ({cols})")
            con.execute(
                "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)"
            )
            con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                (_SCHEMA_VERSION,),
            )
            found = con.execute(
                "SELECT value FROM meta WHERE name='schema_version'"
            ).fetchone()[0]
            have = {row[1] for row in con.execute("PRAGMA table_info(fits)")}
            for name in _APPENDED if found == _SCHEMA_VERSION else ():
                if name not in have:  # a file from before it: rows stay readable
                    con.execute(f"ALTER TABLE fits ADD COLUMN {name} TEXT DEFAULT ''")
                    have.add(name)
            con.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise sqlite3.DatabaseError(
                f"{self.path} is not a usable results store ({err}); give another "
                "--results path or move this file away."
            ) from err
        finally:
            con.close()
        missing = set(_COLUMN_NAMES) - have
        if found != _SCHEMA_VERSION or missing:
            raise ValueError(
                f"The results store {self.path} has schema version {found} (columns "
                f"missing: {sorted(missing)}), this package writes version "
                f"{_SCHEMA_VERSION}. Use a new results file."
            )

    def add(self, records: FitRecord | Iterable[FitRecord]) -> int:
        """Write records in one transaction.

        Parameters
        ----------
        records : FitRecord | iterable of FitRecord
            The results of one fit (a fit scored on several sessions gives
            several records; write them together).

        Returns
        -------
        n_new : int
            The number of rows written (rows whose key is present are skipped).
        """
        if isinstance(records, FitRecord):
            records = [records]
        rows = [record._row() for record in records]
        marks = ", ".join("?" * len(_COLUMN_NAMES))
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            before = con.total_changes
            con.executemany(f"INSERT OR IGNORE INTO fits VALUES ({marks})", rows)
            n_new = con.total_changes - before
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()
        return n_new

    def keys(self) -> set[str]:
        """Keys of the fits already stored.

        Returns
        -------
        keys : set of str
            See :func:`fit_key`.
        """
        con = self._connect()
        try:
            return {row[0] for row in con.execute("SELECT key FROM fits")}
        finally:
            con.close()

    def __contains__(self, key: str) -> bool:
        con = self._connect()
        try:
            return (
                con.execute("SELECT 1 FROM fits WHERE key=?", (key,)).fetchone()
                is not None
            )
        finally:
            con.close()

    def __len__(self) -> int:
        con = self._connect()
        try:
            return con.execute("SELECT COUNT(*) FROM fits").fetchone()[0]
        finally:
            con.close()

    def to_dataframe(self, *, level: str = "moabb", **where) -> pd.DataFrame:
        """Export the results.

        Parameters
        ----------
        level : ``"moabb"`` | ``"fold"``
            ``"moabb"`` gives MOABB's results format (the columns of
            :meth:`moabb.evaluations.base.BaseEvaluation.process`: ``score,
            time, samples, samples_test, n_classes, subject, session, channels,
            n_sessions, dataset, pipeline``, plus ``protocol``, ``n_folds``,
            ``params_hash`` and ``device``), one row per dataset, protocol,
            pipeline, subject and session with scores averaged over folds as
            MOABB does. ``"fold"`` gives every stored row.
        **where
            Equality filters on columns, e.g. ``dataset="Kalunga2016"``.

        Returns
        -------
        df : pandas.DataFrame
            The results.
        """
        from ..utils import _check_option  # here: the module also loads on its own

        _check_option("level", level, ("moabb", "fold"))
        unknown = set(where) - set(_COLUMN_NAMES)
        if unknown:
            raise ValueError(
                f"Unknown column(s) {sorted(unknown)} to filter on; use one of "
                f"{list(_COLUMN_NAMES)}."
            )
        query = "SELECT * FROM fits"
        if where:
            query += " WHERE " + " AND ".join(f"{name}=?" for name in where)
        con = self._connect()
        try:
            df = pd.read_sql_query(query, con, params=[str(v) for v in where.values()])
        finally:
            con.close()
        for name in ("params", "scores", "versions"):
            df[name] = [json.loads(v) if v else {} for v in df[name]]
        for name in _APPENDED:
            df[name] = df[name].fillna("")
        df = df.sort_values(
            ["dataset", "protocol", "pipeline", "subject", "session", "fold"]
        )
        df = df.reset_index(drop=True)
        if level == "fold":
            return df
        return _to_moabb(df)


def _distinct(values) -> str:
    """The distinct non-empty values, sorted and comma-joined (one cell)."""
    return ",".join(sorted(set(values) - {""}))


def _to_moabb(df: pd.DataFrame) -> pd.DataFrame:
    """Average folds per (dataset, protocol, pipeline, subject, session)."""
    columns = [
        "score",
        "time",
        "samples",
        "samples_test",
        "n_classes",
        "subject",
        "session",
        "channels",
        "n_sessions",
        "dataset",
        "pipeline",
        "protocol",
        "n_folds",
        "params_hash",
        "data_hash",
        "device",
        "numerics",
    ]
    if df.empty:
        return pd.DataFrame(columns=columns)
    # numbers only: "choices" (what a fit chose on its training trials) stays
    # in the fold-level rows
    extra = sorted({name for scores in df["scores"] for name, value in scores.items()
                    if isinstance(value, (int, float))})
    for name in extra:
        df[f"score_{name}"] = [scores.get(name) for scores in df["scores"]]
    groups = ["dataset", "protocol", "pipeline", "params_hash", "data_hash"]
    groups += ["subject", "session"]
    agg = {
        "score": ("score", "mean"),
        "time": ("fit_time", "mean"),
        "samples": ("samples", "mean"),
        "samples_test": ("samples_test", "mean"),
        "n_classes": ("n_classes", "max"),
        "channels": ("channels", "first"),
        "n_sessions": ("n_sessions", "first"),
        "n_folds": ("fold", "nunique"),
        "device": ("device", _distinct),
        "numerics": ("numerics", _distinct),
    }
    agg.update({f"score_{name}": (f"score_{name}", "mean") for name in extra})
    out = df.groupby(groups, sort=True).agg(**agg).reset_index()
    # MOABB counts all trials of the session in "samples" (train + test).
    out["samples"] = (out["samples"] + out["samples_test"]).round().astype(int)
    out["samples_test"] = out["samples_test"].round().astype(int)
    return out[columns + [f"score_{name}" for name in extra]]


def _as_store(results) -> ResultsStore:
    from ..utils import _validate_type

    _validate_type(results, ("path-like", ResultsStore), "results")
    return results if isinstance(results, ResultsStore) else ResultsStore(results)
