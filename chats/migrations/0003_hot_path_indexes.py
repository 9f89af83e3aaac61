"""Indexes the send path pays for on every message, dropped where another index covers them."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from neonchat.schema import drop_indexes_concurrently


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY: no lock that stops sends while it runs

    dependencies = [
        ('chats', '0002_initial'),
        ('messaging', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name='chat', name='last_message', field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='messaging.message')),
            ],
            database_operations=[drop_indexes_concurrently('chats_last_message_id_bf288d32')],
        ),
    ]
