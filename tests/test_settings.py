"""Settings as each environment sees them: deploy check, secrets, DEBUG, database, media."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, settings: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with the given settings module and environment."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "READERSTUDY_"))
    }
    clean.update(env, DJANGO_SETTINGS_MODULE=settings)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def setting(name: str, settings: str, **env: str) -> str:
    result = run_python(
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})",
        settings,
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "reader.example.org",
}


def test_check_deploy_is_clean_under_production_settings():
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        "config.settings.production",
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("env", [{}, {"DJANGO_SECRET_KEY": "short"}])
def test_production_refuses_to_start_without_a_secret_key(env):
    result = run_python("import django; django.setup()", "config.settings.production", **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_requires_allowed_hosts():
    env = {"DJANGO_SECRET_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"]}
    result = run_python("import django; django.setup()", "config.settings.production", **env)
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize(
    ("module", "debug"),
    [
        ("config.settings.production", "False"),
        ("config.settings.test", "False"),
        ("config.settings.local", "True"),
    ],
)
def test_debug_is_on_only_in_the_local_demo_settings(module, debug):
    assert setting("DEBUG", module, **PRODUCTION_ENV) == debug


def test_demo_accounts_are_off_in_production():
    assert setting("READERSTUDY_DEMO_ACCOUNTS", "config.settings.production", **PRODUCTION_ENV) == "False"


def test_sqlite_under_the_var_dir_by_default_and_postgres_from_database_url(tmp_path):
    engine = "DATABASES['default']['ENGINE']"
    name = "DATABASES['default']['NAME']"
    assert setting(engine, "config.settings.local", READERSTUDY_VAR_DIR=str(tmp_path)).endswith("sqlite3")
    assert setting(name, "config.settings.local", READERSTUDY_VAR_DIR=str(tmp_path)) == str(
        tmp_path / "db.sqlite3"
    )
    url = "postgres://someone@db.example.org:5433/studies"
    assert setting(engine, "config.settings.local", DATABASE_URL=url) == "django.db.backends.postgresql"
    assert setting(name, "config.settings.local", DATABASE_URL=url) == "studies"


def test_migrate_creates_a_var_dir_that_does_not_exist_yet(tmp_path):
    var_dir = tmp_path / "not" / "yet" / "there"
    result = run_python(
        "from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'migrate', '--noinput', '-v', '0'])",
        "config.settings.local",
        READERSTUDY_VAR_DIR=str(var_dir),
    )
    assert result.returncode == 0, result.stderr
    assert "unable to open database file" not in result.stderr
    assert (var_dir / "db.sqlite3").stat().st_size > 0


def test_a_var_dir_that_cannot_be_created_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run_python(
        "import django; django.setup()",
        "config.settings.local",
        READERSTUDY_VAR_DIR=str(tmp_path / "a-file" / "var"),
    )
    assert result.returncode != 0
    assert "Cannot create the folder" in result.stderr and "READERSTUDY_VAR_DIR" in result.stderr


def test_media_root_follows_the_environment(tmp_path):
    assert setting("MEDIA_ROOT", "config.settings.local", READERSTUDY_MEDIA_ROOT=str(tmp_path)) == str(
        tmp_path
    )
    assert setting("MEDIA_ROOT", "config.settings.local", READERSTUDY_VAR_DIR=str(tmp_path)) == str(
        tmp_path / "media"
    )


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_dicomweb_servers_come_from_the_environment_and_bad_json_is_refused():
    servers = '{"pacs": {"url": "https://pacs.example.org/dicom-web", "token": "t"}, "orthanc": "http://127.0.0.1:8042/dicom-web"}'
    value = setting(
        "READERSTUDY_DICOMWEB_SERVERS['orthanc']",
        "config.settings.test",
        READERSTUDY_DICOMWEB_SERVERS=servers,
    )
    assert value == "http://127.0.0.1:8042/dicom-web"
    for bad in ("{not json", '["http://x"]', '{"pacs": {"username": "u"}}'):
        result = run_python(
            "import django; django.setup()", "config.settings.test", READERSTUDY_DICOMWEB_SERVERS=bad
        )
        assert result.returncode != 0 and "READERSTUDY_DICOMWEB_SERVERS" in result.stderr, bad
