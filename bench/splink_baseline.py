"""The baseline users know: Splink (Fellegi–Sunter on DuckDB) deduplicating the same person
mentions the hub resolves, so bench/quality.py can print both in one run.

The records are the read model's own ``mention`` rows after the events were applied (the
same normalization of identity numbers the hub does on intake), with each record's name
normalized the way Splink users would (width, spaces and middle dots). Splink's model is
trained on them unsupervised, as its tutorials do: the prior from identity numbers, u by
random sampling, m by EM on two blocking rules; pairs at match probability ≥ 0.9 are
clustered into persons.

Needs the ``bench`` extra (``pip install -e '.[bench]'``); ``make test`` does not.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from projections.names import normalize_name, sound_key

THRESHOLD = 0.9


async def mentions(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT record, name, national_id, birth_date, phone, place_id FROM mention"
        )
    finally:
        await conn.close()
    return [
        {
            "unique_id": r["record"],
            "name": normalize_name(r["name"]) if r["name"] else None,
            "name_sound": sound_key(r["name"]),
            "national_id": r["national_id"],
            "birth_date": r["birth_date"],
            "phone": r["phone"],
            "place_id": r["place_id"],
        }
        for r in rows
    ]


def persons(records: list[dict[str, Any]]) -> dict[str, str]:
    """Splink's clusters: record → cluster id."""
    try:
        import pandas as pd
        import splink.comparison_library as cl
        from splink import Linker, SettingsCreator, block_on
        from splink.backends.duckdb import DuckDBAPI
    except ImportError as exc:  # pragma: no cover - a clear message, not a traceback
        raise SystemExit(f"the Splink baseline needs the bench extra: {exc}") from None

    df = pd.DataFrame.from_records(records)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("national_id"),
            cl.NameComparison("name").configure(term_frequency_adjustments=True),
            cl.ExactMatch("name_sound"),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("place_id"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("phone"),
            block_on("name_sound", "birth_date"),
            block_on("name_sound", "place_id"),
            block_on("birth_date", "place_id"),
            block_on("national_id"),
            block_on("name"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("national_id")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("phone"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_sound", "birth_date")
    )
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, THRESHOLD
    ).as_pandas_dataframe()
    return dict(zip(clusters["unique_id"], clusters["cluster_id"].astype(str), strict=True))
