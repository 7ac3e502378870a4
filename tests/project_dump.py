"""A logical dump of a project file, to check that a refused or rolled-back change left
it exactly as it was."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def project_dump(path: str | Path) -> dict[str, list[tuple]]:
    """Every row of every table, and the full-text index as (term, record, position)
    entries: the index's internal pages may be laid out differently after rows were added
    and removed again, while what it finds is the same."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND sql NOT LIKE 'CREATE VIRTUAL%' AND name NOT LIKE 'records_fts_%' "
                "ORDER BY name"
            )
        ]
        out = {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
        conn.execute(
            "CREATE VIRTUAL TABLE temp.fts_terms USING fts5vocab(main, records_fts, 'instance')"
        )
        out["records_fts"] = conn.execute(
            "SELECT term, doc, col, offset FROM temp.fts_terms ORDER BY doc, offset"
        ).fetchall()
        out["user_version"] = conn.execute("PRAGMA user_version").fetchall()
        return out
    finally:
        conn.close()
