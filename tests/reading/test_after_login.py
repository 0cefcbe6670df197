"""Where a login lands: a reader on their next open reading, everyone else on the home page;
``?next=`` wins over both."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from readerstudy.reading.models import Reading
from readerstudy.studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.django_db


def log_in(client, username: str, next_url: str | None = None):
    url = reverse("login") + (f"?next={next_url}" if next_url else "")
    response = client.post(url, {"username": username, "password": f.PASSWORD}, follow=True)
    assert response.status_code == 200
    return response.redirect_chain[-1][0]


def reading_url(reading: Reading) -> str:
    return reverse("readerstudy:reading_detail", args=[reading.public_id])


@pytest.fixture
def reader():
    study = f.StudyFactory(status=Study.Status.ACTIVE)
    participation = f.ReaderParticipationFactory(study=study, user__username="rita")
    session = f.ReadingSessionFactory(participation=participation, number=1)
    readings = [f.ReadingFactory(session=session, position=i) for i in (1, 2, 3)]
    return participation, readings


def test_a_reader_lands_on_the_first_unsubmitted_reading(client, reader):
    _, (first, second, _) = reader
    Reading.objects.filter(pk=first.pk).update(status=Reading.Status.SUBMITTED)
    assert log_in(client, "rita") == reading_url(second)


def test_next_wins(client, reader):
    assert log_in(client, "rita", next_url="/reading/") == "/reading/"


def test_a_reader_with_nothing_open_lands_home(client, reader):
    participation, readings = reader
    Reading.objects.filter(pk__in=[r.pk for r in readings]).update(status=Reading.Status.SUBMITTED)
    # The next session is not open yet (a week from now): nothing to go on with.
    later = f.ReadingSessionFactory(
        participation=participation, number=2, opens_at=timezone.now() + timedelta(days=7)
    )
    f.ReadingFactory(session=later, position=1)
    assert log_in(client, "rita") == reverse("readerstudy:home")


def test_a_locked_study_is_not_gone_to(client, reader):
    participation, _ = reader
    Study.objects.filter(pk=participation.study_id).update(status=Study.Status.LOCKED)
    assert log_in(client, "rita") == reverse("readerstudy:home")


def test_other_roles_land_home(client, reader):
    f.UserFactory(username="cora", roles=["coordinator"])
    assert log_in(client, "cora") == reverse("readerstudy:home")
