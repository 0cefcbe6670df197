"""Email readers whose reading session has opened (run it from cron, e.g. every 15 minutes)."""

from django.core.management.base import BaseCommand

from readerstudy.design.notifications import sessions_open_notify


class Command(BaseCommand):
    help = "Email every reader whose session is open now and who was not told yet; print what was sent when."

    def handle(self, *args, **options) -> None:
        notices = sessions_open_notify()
        for notice in notices:
            self.stdout.write(notice.describe())
        sent = sum(1 for notice in notices if not notice.error)
        self.stdout.write(f"{sent} email{'s' if sent != 1 else ''} sent, {len(notices) - sent} not sent.")
