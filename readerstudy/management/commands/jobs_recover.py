"""``manage.py jobs_recover``: clean up after background jobs of a process that died.

Run before starting a server that is not gunicorn (``bin/demo`` does, before runserver);
gunicorn's workers do it themselves. Queued work taken over from the dead process runs
here, on the embedded runner, before the command returns.
"""

from django.core.management.base import BaseCommand

from readerstudy.jobs import jobs_embedded, jobs_recover_at_start, jobs_wait


class Command(BaseCommand):
    help = "Fail the import jobs of processes that died, remove their temporary files, run their queued work."

    def handle(self, *args, **options) -> None:
        jobs_recover_at_start()
        if jobs_embedded():
            jobs_wait()
