"""The index's schema as numbered migrations, one list for every back end.

An index records the number of the last migration applied to it (SQLite in its
``user_version``, PostgreSQL in the ``index_migrations`` table). Opening an index applies
every later migration in order, in one transaction together with the new number, so a
crash or a refused statement leaves the index as it was; an index numbered past the
last migration was written by a newer registry and is refused rather than misread.
Several registries opening one PostgreSQL index at once take an advisory lock first,
so exactly one applies each migration.

Statements are written once, with ``{int}``, ``{real}`` and ``{key}`` standing for each
back end's types: SQLite's INTEGER is already 64 bits, PostgreSQL needs BIGINT for
nanosecond mtimes and microsecond times; ``{key}`` is the text of a model hash, compared
bytewise in both (PostgreSQL's ``C`` collation) so that keyset paging orders the same.
A new column is a new migration appended here, never an edit of an old one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """A back end's names for the types the migrations use."""

    int: str
    real: str
    key: str

    def render(self, statement: str) -> str:
        return statement.format(int=self.int, real=self.real, key=self.key)


SQLITE = Dialect(int="INTEGER", real="REAL", key="TEXT")
POSTGRESQL = Dialect(int="BIGINT", real="DOUBLE PRECISION", key='TEXT COLLATE "C"')


@dataclass(frozen=True)
class Migration:
    """Version ``version`` of the schema: what it added and the statements that add it."""

    version: int
    what: str
    statements: tuple[str, ...]


def _add_columns(*definitions: str) -> tuple[str, ...]:
    return tuple(f"ALTER TABLE models ADD COLUMN {d}" for d in definitions)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the models table: key, file stamp, checksum, provenance and evaluation",
        (
            """CREATE TABLE IF NOT EXISTS models (
                model_hash {key} NOT NULL,
                episodes {int} NOT NULL,
                size_bytes {int} NOT NULL,
                sha256 TEXT NOT NULL,
                mtime_ns {int} NOT NULL,
                created_at_us {int} NOT NULL,
                origin TEXT NOT NULL,
                algorithm TEXT NOT NULL,
                library_versions_json TEXT NOT NULL,
                evaluation_score {real},
                evaluation_json TEXT NOT NULL,
                canonical_parameters_json TEXT NOT NULL,
                parent_hash {key},
                parent_episodes {int},
                timesteps {int} NOT NULL,
                hyperparameters_json TEXT NOT NULL,
                training_seconds {real} NOT NULL,
                PRIMARY KEY (model_hash, episodes)
            )""",
            "CREATE INDEX IF NOT EXISTS models_newest_first "
            "ON models (created_at_us DESC, model_hash, episodes)",
        ),
    ),
    Migration(
        2,
        "owner, visibility, the declared evaluation and the quarantine (old rows: no "
        "owner, shared)",
        _add_columns(
            "owner TEXT NOT NULL DEFAULT ''",
            "visibility TEXT NOT NULL DEFAULT 'SHARED'",
            "declared_score {real}",
            "declared_json TEXT NOT NULL DEFAULT ''",
            "quarantine_reason TEXT NOT NULL DEFAULT ''",
            "quarantined_at_us {int}",
        ),
    ),
    Migration(
        3,
        "the model's identity beyond its name: kind, episodes added, policy family and "
        "layout version (old rows: '' and 0, read as unknown)",
        _add_columns(
            "kind TEXT NOT NULL DEFAULT ''",
            "episodes_added {int} NOT NULL DEFAULT 0",
            "policy_family TEXT NOT NULL DEFAULT ''",
            "policy_layout_version {int} NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        4,
        "the label people know the model by and the household's feature vector (old "
        "rows: no label, no features: never a near match)",
        _add_columns(
            "label TEXT NOT NULL DEFAULT ''",
            "features_json TEXT NOT NULL DEFAULT ''",
            "features_version {int} NOT NULL DEFAULT 0",
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


class NewerSchema(RuntimeError):
    """The index was migrated by a newer registry than this one."""


def pending(current: int, where: str, *, target: int = SCHEMA_VERSION) -> list[Migration]:
    """The migrations after ``current`` up to ``target``, in order; NewerSchema when the
    index (named by ``where``) is past what this registry understands."""
    if current > SCHEMA_VERSION:
        raise NewerSchema(
            f"{where}: index schema version {current} is newer than this registry "
            f"understands ({SCHEMA_VERSION})"
        )
    return [m for m in MIGRATIONS if current < m.version <= target]
