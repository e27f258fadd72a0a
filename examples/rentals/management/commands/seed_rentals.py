from django.core.management.base import BaseCommand, CommandError

from examples.rentals.models import Lease
from examples.rentals.seed import SIZES, seed


class Command(BaseCommand):
    help = "Replace the rentals data with the deterministic example data set."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0,
                            help="multiply every size by this factor (default 1.0)")
        parser.add_argument("--seed", dest="random_seed", type=int, default=20260115,
                            help="random seed")
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when rentals data already exists")

    def handle(self, *args, scale: float, random_seed: int, if_empty: bool, **options):
        if scale <= 0:
            raise CommandError("--scale must be positive")
        if if_empty and Lease.objects.exists():
            self.stdout.write("Rentals data already present; not seeding.")
            return
        counts = seed(scale=scale, random_seed=random_seed)
        summary = ", ".join(f"{counts[name]} {name}" for name in SIZES)
        self.stdout.write(self.style.SUCCESS(f"Seeded {summary}."))
