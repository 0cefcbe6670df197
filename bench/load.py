"""Load benchmark: N readers autosaving at once against gunicorn + PostgreSQL, then a check
that every write the server acknowledged is in the database.

    .venv/bin/python bench/load.py                      # 50 readers, 60 s
    .venv/bin/python bench/load.py --readers 100 --seconds 120 --kill-worker-at 20

What it does:

1. creates a fresh PostgreSQL database (``--database``, default ``readerstudy_load`` on
   127.0.0.1:5432; dropped and made anew), migrates it and creates one study with N readers,
   each with one session of ``--readings`` readings, and a logged-in session cookie each
   (made directly, so that no login is throttled or costs a password hash);
2. starts gunicorn with the project's ``gunicorn.conf.py`` and production settings;
3. runs one thread per reader for ``--seconds``: each sends what the workstation sends
   (Likert answers, free-text comments, lesion marks, slice position, telemetry visits) with
   a random pause of up to twice ``--think-ms`` between requests, on a kept-alive connection;
   ``--kill-worker-at S`` kills one gunicorn worker (SIGKILL) S seconds in;
4. stops the load, then compares the database with what was acknowledged (HTTP 200): a
   write is *lost* when the stored value is neither the last acknowledged one nor one sent
   after it whose answer never came (a timeout or a dropped connection may or may not
   have landed).

It prints requests, errors by kind, requests per second, latency p50/p95/p99, and lost
writes. Only loopback addresses are used; the run is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF = "b" * 32  # a cookie secret that Django's CSRF check accepts back in X-CSRFToken
LIKERT_KEYS = ("quality", "noise", "sharpness")


@dataclass
class Sent:
    """What one reader sent for one key, in order: (value, acknowledged)."""

    history: list[tuple[object, bool]] = field(default_factory=list)

    def acceptable(self) -> list[object] | None:
        """Values the database may hold: the last acknowledged one and any sent after it without
        an answer; None when nothing was acknowledged (nothing to check)."""
        last_ack = max((i for i, (_, ok) in enumerate(self.history) if ok), default=None)
        if last_ack is None:
            return None
        return [value for value, _ in self.history[last_ack:]]


@dataclass
class ReaderLoad:
    """One reader's thread: its readings, its cookie, what it sent and how long each took."""

    cookie: str
    readings: list[str]
    num_slices: int
    sent: dict[tuple[str, str], Sent] = field(default_factory=lambda: defaultdict(Sent))
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    visit_ids: dict[str, str] = field(default_factory=dict)
    visit_ms: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def database_create(name: str) -> None:
    """Drop and create the benchmark's database (psycopg, autocommit)."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def study_setup(readers: int, readings: int, env: dict[str, str]) -> list[ReaderLoad]:
    """Migrate, then create the study, its readers and one session cookie per reader."""
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=600)
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    from readerstudy.imaging.models import ImageSeries
    from readerstudy.reading.models import Reading, ReadingSession
    from readerstudy.studies.models import Case, Condition, Question, ReaderParticipation, Study
    from readerstudy.studies.policy import READER

    study = Study.objects.create(
        name="Load benchmark",
        slug=f"load-{secrets.token_hex(3)}",
        status=Study.Status.ACTIVE,
        navigation=Study.Navigation.FREE,
        mark_scale=[{"value": v, "label": str(v)} for v in (1, 2, 3, 4)],
    )
    for order, key in enumerate(LIKERT_KEYS):
        Question.objects.create(
            study=study,
            key=key,
            text=key.title(),
            kind=Question.Kind.LIKERT,
            order=order,
            scale=[{"value": v, "label": str(v)} for v in range(1, 6)],
        )
    Question.objects.create(
        study=study, key="comment", text="Comment", kind=Question.Kind.TEXT, scale=[], required=False, order=9
    )
    condition = Condition.objects.create(study=study, label="HR", order=0)
    series = [
        ImageSeries.objects.create(
            case=Case.objects.create(study=study, code=f"C{i:03d}"),
            condition=condition,
            series_instance_uid=f"2.25.{uuid.uuid4().int}",
            study_instance_uid=f"2.25.{uuid.uuid4().int}",
            modality="MR",
            rows=256,
            columns=256,
            num_slices=40,
            pixel_spacing=[1.0, 1.0],
            slice_spacing=3.0,
            slice_thickness=3.0,
            orientation=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            origin=[0.0, 0.0, 0.0],
        )
        for i in range(readings)
    ]
    group = Group.objects.get_or_create(name=READER)[0]
    loads = []
    for r in range(readers):
        user = User.objects.create_user(f"load-reader-{r}", password=None)
        user.groups.add(group)
        participation = ReaderParticipation.objects.create(study=study, user=user, code=f"R{r + 1}")
        session = ReadingSession.objects.create(participation=participation, number=1)
        public_ids = [
            str(Reading.objects.create(session=session, series=s, position=i + 1).public_id)
            for i, s in enumerate(series)
        ]
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        cookie = f"{settings.SESSION_COOKIE_NAME}={store.session_key}; csrftoken={CSRF}"
        loads.append(ReaderLoad(cookie=cookie, readings=public_ids, num_slices=40))
    return loads


def server_start(port: int, env: dict[str, str]) -> subprocess.Popen:
    """gunicorn with the project's configuration, bound to loopback; waits until it answers."""
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "config.wsgi"]
    log = (Path(env["READERSTUDY_VAR_DIR"]) / "gunicorn.log").open("w")
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/accounts/login/")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"gunicorn did not answer within 180 s (see {log.name})")


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def reader_run(load: ReaderLoad, port: int, stop: threading.Event, think_ms: float, seed: int) -> None:
    """One reader autosaving until ``stop``: the workstation's writes, one at a time."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    marks: dict[str, list[str]] = defaultdict(list)
    count = 0
    while not stop.is_set():
        count += 1
        reading = rng.choice(load.readings)
        base = f"/api/readings/{reading}"
        roll = rng.random()
        if roll < 0.4:
            key = rng.choice(LIKERT_KEYS)
            value = rng.randint(1, 5)
            method, path, body, record = (
                "POST",
                f"{base}/answers",
                {"question": key, "value": value},
                (key, value),
            )
        elif roll < 0.6:
            text = f"comment {count} " + "x" * rng.randint(0, 400)
            method, path, body = "POST", f"{base}/answers", {"question": "comment", "text": text}
            record = ("comment", text.strip())
        elif roll < 0.8:
            existing = marks[reading]
            client_id = rng.choice(existing) if existing and rng.random() < 0.5 else str(uuid.uuid4())
            if client_id not in existing:
                existing.append(client_id)
            rating = rng.randint(1, 4)
            body = {"slice": rng.randrange(load.num_slices), "x": 100.5, "y": 80.5, "rating": rating}
            method, path, record = "PUT", f"{base}/marks/{client_id}", (f"mark:{client_id}", rating)
        elif roll < 0.9:
            position = rng.randrange(load.num_slices)
            method, path, body, record = (
                "POST",
                f"{base}/position",
                {"slice": position},
                ("position", position),
            )
        else:
            visit = load.visit_ids.setdefault(reading, str(uuid.uuid4()))
            load.visit_ms[reading] += rng.randint(100, 5000)
            body = {"active_ms": load.visit_ms[reading], "slices": [1, 2], "window_changes": 0}
            method, path, record = "PUT", f"{base}/visits/{visit}", ("visit", load.visit_ms[reading])
        started = time.perf_counter()
        ok = False
        try:
            conn.request(
                method,
                path,
                body=json.dumps(body),
                headers={
                    "Cookie": load.cookie,
                    "X-CSRFToken": CSRF,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
            if not ok:
                load.errors[f"HTTP {response.status}"] += 1
        except (OSError, http.client.HTTPException) as exc:
            load.errors[type(exc).__name__] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        load.latencies_ms.append((time.perf_counter() - started) * 1000)
        load.sent[(reading, record[0])].history.append((record[1], ok))
        stop.wait(rng.uniform(0, 2 * think_ms) / 1000)
    conn.close()


def writes_verify(loads: list[ReaderLoad]) -> tuple[int, int]:
    """(acknowledged keys checked, lost): compare the database with what was acknowledged."""
    from readerstudy.reading.models import Answer, LesionMark, Reading, ReadingVisit

    checked = lost = 0
    for load in loads:
        for (reading_id, key), sent in load.sent.items():
            acceptable = sent.acceptable()
            if acceptable is None:
                continue
            checked += 1
            reading = Reading.objects.get(public_id=reading_id)
            if key.startswith("mark:"):
                mark = LesionMark.objects.filter(reading=reading, client_id=key[5:]).first()
                stored: object = mark.rating if mark else None
            elif key == "position":
                stored = reading.last_slice
            elif key == "visit":
                visit = ReadingVisit.objects.filter(reading=reading).first()
                last_ack = max(v for v, ok in sent.history if ok)
                stored = visit.active_ms if visit and visit.active_ms >= last_ack else None
                acceptable = [stored] if stored is not None else [last_ack]
            else:
                answer = Answer.objects.filter(reading=reading, question__key=key).first()
                stored = (answer.text if key == "comment" else answer.value) if answer else None
            if stored not in acceptable:
                lost += 1
                print(f"LOST: reading {reading_id} {key}: stored {stored!r}, acknowledged {acceptable!r}")
    return checked, lost


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--readings", type=int, default=4, help="readings per reader")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think-ms", type=float, default=250.0, help="mean pause between requests")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="readerstudy_load")
    parser.add_argument(
        "--workers", type=int, default=0, help="gunicorn workers (0: gunicorn.conf.py's rule)"
    )
    parser.add_argument(
        "--kill-worker-at", type=float, default=None, help="SIGKILL one worker after S seconds"
    )
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": _database_url(args.database),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_CONN_MAX_AGE": "60",
        "READERSTUDY_VAR_DIR": str(ROOT / "var" / "bench-load"),
        "LOG_LEVEL": "WARNING",
    }
    if args.workers:
        env["GUNICORN_WORKERS"] = str(args.workers)
    Path(env["READERSTUDY_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    database_create(args.database)
    print(f"Setting up {args.readers} readers x {args.readings} readings in database {args.database} ...")
    loads = study_setup(args.readers, args.readings, env)
    server = server_start(args.port, env)
    workers = _worker_pids(server.pid)
    print(
        f"gunicorn {server.pid} with {len(workers)} workers on 127.0.0.1:{args.port}; "
        f"load for {args.seconds:.0f} s"
    )
    stop = threading.Event()
    threads = [
        threading.Thread(target=reader_run, args=(load, args.port, stop, args.think_ms, i), daemon=True)
        for i, load in enumerate(loads)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    killed = None
    try:
        while time.monotonic() - started < args.seconds:
            time.sleep(0.2)
            if (
                args.kill_worker_at is not None
                and killed is None
                and time.monotonic() - started >= args.kill_worker_at
            ):
                pids = _worker_pids(server.pid)
                if pids:
                    killed = pids[0]
                    os.kill(killed, signal.SIGKILL)
                    print(f"killed worker {killed} at {time.monotonic() - started:.1f} s")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
        workers = _worker_pids(server.pid) or workers
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()

    latencies = [ms for load in loads for ms in load.latencies_ms]
    errors = sum((load.errors for load in loads), Counter())
    checked, lost = writes_verify(loads)
    print()
    print(f"readers {args.readers}, {elapsed:.1f} s, gunicorn workers {len(workers)}")
    print(f"requests {len(latencies)} ({len(latencies) / elapsed:.1f}/s), errors {sum(errors.values())}")
    for kind, n in sorted(errors.items()):
        print(f"  {kind}: {n}")
    if latencies:
        print(
            f"latency ms: p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
            f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}"
        )
    acknowledged = sum(ok for load in loads for s in load.sent.values() for _, ok in s.history)
    print(
        f"acknowledged writes {acknowledged}; keys checked against the database {checked}; lost writes {lost}"
    )
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
