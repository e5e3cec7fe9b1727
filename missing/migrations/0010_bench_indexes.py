"""Indexes found missing by the national-scale benchmark (bench/README.md).

- episode_state_seen_idx: the episode list filtered by state, newest first.
- episode_la_returned_idx: the SSDA903 Missing table's "touches the collection year"
  (returned on or after its start, or not yet returned), for looked-after episodes.
- child_last_name_prefix_idx (PostgreSQL only): the child search is a case-insensitive prefix
  match, `UPPER(last_name) LIKE UPPER('smi%')`. The existing Lower(last_name) index serves
  equality (matching a police notification to a child) but no LIKE outside the C collation;
  text_pattern_ops makes the prefix an index range. SQLite has no operator classes and needs none.
"""

from django.db import migrations, models

PREFIX_INDEX = "child_last_name_prefix_idx"


def create_prefix_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {PREFIX_INDEX} "
            "ON missing_child (UPPER(last_name::text) text_pattern_ops)"
        )


def drop_prefix_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {PREFIX_INDEX}")


class Migration(migrations.Migration):
    dependencies = [("missing", "0009_user_session_generation")]

    operations = [
        migrations.AddIndex(
            model_name="missingepisode",
            index=models.Index(fields=["state", "last_seen_at"], name="episode_state_seen_idx"),
        ),
        migrations.AddIndex(
            model_name="missingepisode",
            index=models.Index(
                condition=models.Q(
                    ("looked_after", True), models.Q(("state", "cancelled"), _negated=True)
                ),
                fields=["returned_at"],
                name="episode_la_returned_idx",
            ),
        ),
        migrations.RunPython(create_prefix_index, drop_prefix_index, elidable=False),
    ]
