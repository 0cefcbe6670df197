"""``manage.py load_demo``: load the demo study and its accounts (non-interactive)."""

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy import demo

#: The port ``bin/demo`` last served the demo on (it passes ``--port``), under READERSTUDY_VAR_DIR.
PORT_FILE = "demo-port"
DEFAULT_PORT = "8000"


def _port_file() -> Path:
    return Path(settings.VAR_DIR) / PORT_FILE


def _recorded_port() -> str | None:
    try:
        port = _port_file().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return port if port.isdigit() else None


class Command(BaseCommand):
    help = (
        "Load the demo study (generated brain MRI read as LR, SR and HR) and, under the demo "
        "settings, its accounts. Does nothing when the demo study exists, unless --reset is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=8, help="number of cases (default 8)")
        parser.add_argument(
            "--reset", action="store_true", help="archive the current demo study and build a new one"
        )
        parser.add_argument(
            "--port",
            default=None,
            help="port shown in the login URL, and remembered for later runs (default: $PORT, else "
            f"the port bin/demo last served on, else {DEFAULT_PORT})",
        )

    def handle(self, *args, cases: int, reset: bool, port: str | None, **options) -> None:
        if cases < 2:
            raise CommandError("--cases must be at least 2.")
        if port is not None and not port.isdigit():
            raise CommandError(f"--port must be a port number, got {port!r}.")
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
            self._print_logins(self._port(port))
        else:
            self.stdout.write("No demo accounts under these settings (use config.settings.local).")

    def _port(self, given: str | None) -> str:
        """``--port`` (then remembered), else $PORT, else the remembered port, else 8000.

        ``bin/demo`` passes the port it is about to serve on; remembering it lets a later
        ``load_demo --reset`` in another shell (no --port, no PORT) print the URL of the
        server that is running, not 8000.
        """
        if given is not None:
            try:
                _port_file().write_text(given + "\n", encoding="utf-8")
            except OSError as exc:
                self.stderr.write(f"Could not remember the port in {_port_file()}: {exc.strerror or exc}")
            return given
        return os.environ.get("PORT") or _recorded_port() or DEFAULT_PORT

    def _print_logins(self, port: str) -> None:
        self.stdout.write("\nDemo logins:")
        self.stdout.write(f"  {'username':<14}{'password':<10}role")
        self.stdout.write(f"  {'-' * 12:<14}{'-' * 8:<10}{'-' * 12}")
        for username, role in demo.DEMO_ACCOUNTS:
            self.stdout.write(f"  {username:<14}{demo.DEMO_PASSWORD:<10}{role}")
        self.stdout.write(f"\nLog in at http://127.0.0.1:{port}/accounts/login/")
