"""``python -m django djust_broadcast_test GROUP --note TEXT``: a broadcast
from another process, as a cron job or a worker would send it, for
tests/test_browser_socket.py. It reaches the pages through the channel
layer the settings name (tests/settings_redis_layer.py: Redis)."""

from django.core.management.base import BaseCommand

import djust


class Command(BaseCommand):
    help = "Broadcast a note to a djust group (a test helper)."

    def add_arguments(self, parser):
        parser.add_argument("group")
        parser.add_argument("--note", required=True)

    def handle(self, *args, group, note, **options):
        djust.broadcast(group, note=note)
        self.stdout.write(f"broadcast to {group}: {note}")
