"""``manage.py load_demo``: load the demo study and its accounts (non-interactive)."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ...services import demo


class Command(BaseCommand):
    help = "Load the demo study (generated brain MRI, 2 conditions) and the demo accounts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=8, help="number of cases (default 8)")
        parser.add_argument(
            "--reset", action="store_true", help="archive the current demo study and build a new one"
        )

    def handle(self, *args, cases: int, reset: bool, **options) -> None:
        if reset:
            archived = demo.demo_study_archive()
            if archived is not None:
                self.stdout.write(f"Archived the previous demo study as '{archived.slug}'.")
        if demo.demo_study_exists():
            self.stdout.write("The demo study is already loaded (use --reset to rebuild it).")
        else:
            started = time.monotonic()
            study = demo.demo_study_create(n_cases=cases, stdout=self.stdout)
            self.stdout.write(
                self.style.SUCCESS(f"Loaded '{study.name}' in {time.monotonic() - started:.1f} s.")
            )
        if getattr(settings, "READERSTUDY_DEMO_ACCOUNTS", False):
            self.stdout.write("\nDemo logins (password for all: demo):")
            for username, role in demo.DEMO_ACCOUNTS:
                self.stdout.write(f"  {username:<13} {role}")
            self.stdout.write(
                "\nLog in at /accounts/login/ on the server (bin/demo serves http://127.0.0.1:8000)."
            )
