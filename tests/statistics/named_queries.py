"""Runs every Athena named query of template.yaml in DuckDB over the Parquet files of the
scripted day (cli/tests/statistics.rs writes them to SERVICEKANAL_STATS_DIR) and checks the
figures an analyst would read. Also holds the Glue tables to the Parquet schema.

The queries are Trino SQL (Athena engine 3); sqlglot transpiles them to DuckDB.
"""

import os
import sys
from pathlib import Path

import duckdb
import sqlglot
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Glue column types and the DuckDB types the Parquet files must have for them.
GLUE_TO_DUCKDB = {
    "timestamp": {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE"},
    "string": {"VARCHAR"},
    "bigint": {"BIGINT"},
    "int": {"INTEGER"},
    "boolean": {"BOOLEAN"},
    "double": {"DOUBLE"},
}


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping intrinsic functions (!Ref, !Sub, ...) as plain values."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


CfnLoader.add_multi_constructor("!", _intrinsic)


def template():
    with open(ROOT / "template.yaml", encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def resources_of(kind):
    return [r["Properties"] for r in template()["Resources"].values() if r["Type"] == kind]


def connect(stats_dir):
    db = duckdb.connect()
    tables = {}
    for table in resources_of("AWS::Glue::Table"):
        name = table["TableInput"]["Name"]
        files = sorted((stats_dir / name).glob("dt=*/*.parquet"))
        assert files, f"no Parquet files for {name} in {stats_dir}"
        paths = ", ".join(f"'{p}'" for p in files)
        db.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{paths}], hive_partitioning = true)"
        )
        tables[name] = table["TableInput"]
    return db, tables


def check_schema(db, tables):
    for name, table in tables.items():
        described = {row[0]: row[1] for row in db.execute(f"DESCRIBE {name}").fetchall()}
        columns = table["StorageDescriptor"]["Columns"]
        expected = [c["Name"] for c in columns] + [p["Name"] for p in table["PartitionKeys"]]
        assert list(described) == expected, f"{name}: Parquet has {list(described)}, Glue {expected}"
        for column in columns:
            actual = described[column["Name"]]
            assert actual in GLUE_TO_DUCKDB[column["Type"]], (
                f"{name}.{column['Name']}: Glue says {column['Type']}, Parquet holds {actual}"
            )


def run(db, sql):
    duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    cursor = db.execute(duck)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def close(actual, expected, tolerance=0.01):
    return abs(float(actual) - float(expected)) <= tolerance * max(1.0, abs(float(expected)))


# What each named query must show for the scripted day (see cli/tests/statistics.rs):
# Erika (customer, handed over, agent replies after 2 min, closes, survey 4 + comment),
# Max (prospect, FAQ, goodbye, survey 5 without comment), Lena (one question, inactivity),
# Hans (callback done after 3 h), Greta (callback never done, expired after 3 months).
def expect_dialogs_per_day(rows, db):
    assert [(str(r["day"]), r["conversations"]) for r in rows] == [("2026-11-21", 3)], rows
    assert rows[0]["concerns"] == db.execute("SELECT sum(dialogs) FROM conversations").fetchone()[0]


def expect_chat_duration(rows, db):
    durations = sorted(r[0] for r in db.execute("SELECT duration_seconds FROM conversations").fetchall())
    assert len(rows) == 1 and rows[0]["conversations"] == 3, rows
    # Three conversations: the median is the middle one, the 90th percentile near the longest.
    assert durations[0] <= rows[0]["p50_seconds"] <= durations[2], (rows, durations)
    assert close(rows[0]["p50_seconds"], durations[1], 0.25), (rows, durations)
    assert durations[1] <= rows[0]["p90_seconds"] <= durations[2], (rows, durations)


def expect_bot_containment(rows, db):
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["conversations"], row["without_handover"]) == (3, 2), row
    assert close(row["containment_percent"], 66.7), row


def expect_reply_time(rows, db):
    by_actor = {r["actor"]: r for r in rows}
    assert set(by_actor) == {"agent", "bot"}, rows
    # The agent answered Erika once, 122 s after she asked for a person (two minutes, and the
    # 2 s Lisa waited for a follow-up message before she handed over: the burst window).
    assert by_actor["agent"]["replies"] == 1
    assert by_actor["agent"]["p50_seconds"] == 122 and by_actor["agent"]["p95_seconds"] == 122
    # Lisa answers within the burst window (2 s) after the message.
    assert by_actor["bot"]["replies"] >= 8, by_actor["bot"]
    assert by_actor["bot"]["p95_seconds"] < 5, by_actor["bot"]


def expect_survey_scores(rows, db):
    assert [(r["score"], r["responses"]) for r in rows] == [(4, 1), (5, 1)], rows


def expect_survey_resolution(rows, db):
    row = rows[0]
    assert (row["responses"], row["solved"]) == (2, 2), row
    assert close(row["resolution_percent"], 100.0) and close(row["average_score"], 4.5), row


def expect_callbacks_per_topic(rows, db):
    by_topic = {r["topic"]: r for r in rows}
    assert set(by_topic) == {"devices", "tariff-advice"}, rows
    tariff, devices = by_topic["tariff-advice"], by_topic["devices"]
    assert (tariff["requests"], tariff["completed"], tariff["expired"]) == (1, 1, 0), tariff
    assert close(tariff["avg_hours_to_completion"], 3.0) and close(tariff["max_hours_to_completion"], 3.0)
    assert (devices["requests"], devices["completed"], devices["expired"]) == (1, 0, 1), devices
    assert devices["avg_hours_to_completion"] is None, devices


def expect_deletions_per_day(rows, db):
    items = {}
    for r in rows:
        key = (r["retention_class"], r["reason"])
        items[key] = items.get(key, 0) + r["items"]
    # The callback done: its request and its sales-list entry, at once.
    assert items[("callback-3m", "purpose_fulfilled")] == 2, items
    # A week on, every bot message and the bot conversations are gone (the sweeper, on time).
    assert items[("bot-7d", "sweeper")] > 10, items
    # Greta's request after three months.
    assert items[("callback-3m", "sweeper")] >= 1, items
    # Erika's and Max's survey sessions, deleted when the survey was finished.
    assert items[("bot-7d", "purpose_fulfilled")] == 2, items
    # Erika's service data (13 months) and the survey answers stay.
    assert not any(cls in ("service-13m", "survey-13m") for cls, _ in items), items
    days = [str(r["day"]) for r in rows]
    assert days == sorted(days), days


def expect_messages_per_pricing_category(rows, db):
    # Locally every outbound message gets a simulated "sent" status priced as a free service
    # message (inside the customer's 24-hour window), so no other category and no "unknown".
    assert rows, rows
    assert {(r["pricing_category"], r["pricing_type"]) for r in rows} == {
        ("service", "free_customer_service")
    }, rows
    assert all(r["messages"] > 0 for r in rows), rows
    outbound = db.execute("SELECT count(*) FROM message_events WHERE direction = 'outbound'").fetchone()[0]
    assert sum(r["messages"] for r in rows) == outbound, (rows, outbound)
    keys = [(str(r["day"]), r["pricing_category"], r["pricing_type"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), keys


def expect_lisa_understanding_per_day(rows, db):
    # The scripted day's customers write free text Lisa understands directly, and some she
    # does not (asked to rephrase, sent to review); every share is a percentage of its day.
    assert rows, rows
    for r in rows:
        assert r["customer_messages"] >= r["understood_messages"] >= 0, r
        if r["answered_directly_pct"] is not None:
            assert 0 <= r["answered_directly_pct"] <= 100, r
        assert 0 <= r["sent_to_review_pct"] <= 100, r
    inbound = db.execute("SELECT count(*) FROM message_events WHERE direction = 'inbound'").fetchone()[0]
    assert sum(r["customer_messages"] for r in rows) == inbound, (rows, inbound)
    directly = db.execute("SELECT count(*) FROM message_events WHERE understood = 'directly'").fetchone()[0]
    assert directly > 0, "Lisa answered some free text directly"
    reviewed = db.execute("SELECT count(*) FROM message_events WHERE sent_to_review").fetchone()[0]
    assert reviewed > 0, "some message went to review"
    days = [str(r["day"]) for r in rows]
    assert days == sorted(days), days


EXPECTATIONS = {
    "dialogs-per-day": expect_dialogs_per_day,
    "chat-duration": expect_chat_duration,
    "bot-containment": expect_bot_containment,
    "reply-time": expect_reply_time,
    "survey-scores": expect_survey_scores,
    "survey-resolution": expect_survey_resolution,
    "callbacks-per-topic": expect_callbacks_per_topic,
    "deletions-per-day": expect_deletions_per_day,
    "messages-per-pricing-category": expect_messages_per_pricing_category,
    "lisa-understanding-per-day": expect_lisa_understanding_per_day,
}


def main():
    stats_dir = Path(os.environ.get("SERVICEKANAL_STATS_DIR", sys.argv[1] if len(sys.argv) > 1 else ""))
    assert stats_dir.is_dir(), "run cli/tests/statistics.rs with SERVICEKANAL_STATS_DIR first"
    db, tables = connect(stats_dir)
    check_schema(db, tables)
    queries = {q["Name"]: q["QueryString"] for q in resources_of("AWS::Athena::NamedQuery")}
    assert set(queries) == set(EXPECTATIONS), f"queries without a check: {set(queries) ^ set(EXPECTATIONS)}"
    for name, sql in queries.items():
        rows = run(db, sql)
        EXPECTATIONS[name](rows, db)
        print(f"ok {name}: {rows}")
    print(f"{len(queries)} named queries checked over {len(tables)} tables")


if __name__ == "__main__":
    main()
