"""Keep the first review's due time once it is done (figures: reviews within target)."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    """Episodes reviewed before this column existed: the due time their grade set from the
    notification (a regrade before the review is not recoverable; it could only have made the
    target earlier)."""
    episode_model = apps.get_model("missing", "MissingEpisode")
    batch = []
    reviewed = (
        episode_model.objects.filter(first_reviewed_at__isnull=False)
        .select_related("police_grade")
        .only("pk", "notified_at", "police_grade__review_within")
    )
    for episode in reviewed.iterator(chunk_size=2000):
        episode.first_review_due_at = episode.notified_at + episode.police_grade.review_within
        batch.append(episode)
        if len(batch) >= 2000:
            episode_model.objects.bulk_update(batch, ["first_review_due_at"])
            batch = []
    if batch:
        episode_model.objects.bulk_update(batch, ["first_review_due_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("missing", "0007_episode_returned_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="missingepisode",
            name="first_review_due_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
