"""``manage.py load_demo``: load the demo study and its accounts (non-interactive)."""

import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy import demo


class Command(BaseCommand):
    help = (
        "Load the demo study (generated brain MRI, HR vs LR) and, under the demo settings, "
        "its accounts. Does nothing when the demo study exists, unless --reset is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=8, help="number of cases (default 8)")
        parser.add_argument(
            "--reset", action="store_true", help="archive the current demo study and build a new one"
        )
        parser.add_argument(
            "--port",
            default=os.environ.get("PORT", "8000"),
            help="port shown in the login URL (default: $PORT or 8000)",
        )

    def handle(self, *args, cases: int, reset: bool, port: str, **options) -> None:
        if cases < 2:
            raise CommandError("--cases must be at least 2.")
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
            self._print_logins(port)
        else:
            self.stdout.write("No demo accounts under these settings (use config.settings.local).")

    def _print_logins(self, port: str) -> None:
        self.stdout.write("\nDemo logins:")
        self.stdout.write(f"  {'username':<14}{'password':<10}role")
        self.stdout.write(f"  {'-' * 12:<14}{'-' * 8:<10}{'-' * 12}")
        for username, role in demo.DEMO_ACCOUNTS:
            self.stdout.write(f"  {username:<14}{demo.DEMO_PASSWORD:<10}{role}")
        self.stdout.write(f"\nLog in at http://127.0.0.1:{port}/accounts/login/")
