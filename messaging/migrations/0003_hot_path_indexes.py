"""Indexes the send path pays for on every message, dropped where another index covers them."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from neonchat.schema import drop_indexes_concurrently


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY: no lock that stops sends while it runs

    dependencies = [
        ('chats', '0003_hot_path_indexes'),
        ('messaging', '0002_message_search'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name='message', name='chat', field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='chats.chat')),

                migrations.AlterField(model_name='message', name='sender', field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            database_operations=[drop_indexes_concurrently('messages_chat_id_c921b202', 'messages_sender_id_dc5a0bbd')],
        ),
    ]
