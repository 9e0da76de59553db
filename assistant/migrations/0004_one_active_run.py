"""One running-or-waiting run per conversation, enforced by a partial unique index.

The engine never started a second run while one was active, but on PostgreSQL two
messages arriving together could both pass its check. Before the index is created, any
such extra runs (all but the newest of a conversation) are closed as failed.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

ACTIVE = ["running", "waiting"]


def close_extra_active_runs(apps, schema_editor):
    Run = apps.get_model("assistant", "Run")
    newest: dict[object, object] = {}
    extra = []
    for run in Run.objects.filter(status__in=ACTIVE).order_by("conversation_id", "-created_at"):
        if run.conversation_id in newest:
            extra.append(run.pk)
        else:
            newest[run.conversation_id] = run.pk
    now = timezone.now()
    Run.objects.filter(pk__in=extra).update(
        status="failed", error_code="superseded", finished_at=now, updated_at=now,
        error="A newer run of this conversation was already active; this one was closed.")


class Migration(migrations.Migration):

    dependencies = [
        ("assistant", "0003_token_budgets"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(close_extra_active_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="run",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["running", "waiting"])), fields=("conversation",),
                name="run_one_active_per_conversation"),
        ),
    ]
