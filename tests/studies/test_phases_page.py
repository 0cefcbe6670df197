"""A coordinator sets up reading phases on the phases page and asks each question in one."""

import pytest
from django.urls import reverse

from readerstudy.studies.models import Question
from readerstudy.studies.services import study_create_from_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(coordinator):
    return study_create_from_template(
        template_key="brain-mets-froc", name="Mets", slug="mets", washout_days=7, actor=coordinator
    )


def test_a_coordinator_adds_an_image_quality_phase_and_a_lesion_question_in_it(client, coordinator, draft):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_phases", args=[draft.slug])
    assert "Reading" in client.get(url).content.decode()
    response = client.post(
        url, {"name": "Image quality", "kind": "reading", "washout_days": "7", "conditions": ["SR"]}
    )
    assert response.status_code == 302
    phase = draft.phases.get(order=2)
    assert (phase.key, phase.name, phase.washout_days, phase.takes_marks) == (
        "image-quality",
        "Image quality",
        7,
        False,
    )
    assert [c.label for c in phase.included_conditions()] == ["SR"]

    response = client.post(
        reverse("readerstudy:study_questions", args=[draft.slug]),
        {
            "text": "Visibility of the lesion",
            "kind": "likert",
            "scale": "1 = poor\n2 = good",
            "phase": "image-quality",
            "lesion_rule": "median",
            "required": "on",
        },
    )
    assert response.status_code == 302
    question = Question.objects.get(study=draft, key="visibility_of_the_lesion")
    assert (question.phase, question.lesion_rule) == (phase, "median")
    page = client.get(reverse("readerstudy:study_questions", args=[draft.slug])).content.decode()
    assert "The median-sized reference lesion" in page


def test_a_phase_key_is_unique_and_an_unknown_phase_is_refused(client, coordinator, draft):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_phases", args=[draft.slug])
    response = client.post(url, {"name": "Reading", "kind": "reading", "washout_days": "0"})
    assert response.status_code == 200
    assert (
        "A phase with the key &#x27;reading&#x27; already exists in this study." in response.content.decode()
    )
    response = client.post(
        reverse("readerstudy:study_questions", args=[draft.slug]),
        {"text": "Grain", "kind": "likert", "scale": "1 = a\n2 = b", "phase": "nope"},
    )
    assert response.status_code == 200 and not Question.objects.filter(study=draft, key="grain").exists()


def test_a_coordinator_sets_a_comparative_hanging_protocol_on_the_phases_page(client, coordinator, draft):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_phases", args=[draft.slug])
    labels = list(draft.conditions.order_by("order").values_list("label", flat=True))
    form = {"name": "Side by side", "kind": "reading", "washout_days": "0", "layout": "comparative"}
    # One condition cannot be compared; marks are not taken side by side.
    page = client.post(url, {**form, "conditions": labels[:1]}).content.decode()
    assert "at least two conditions" in page
    page = client.post(url, {**form, "conditions": labels[:2], "takes_marks": "on"}).content.decode()
    assert "takes no lesion marks" in page
    response = client.post(url, {**form, "conditions": labels[:2], "reference": labels[0]})
    assert response.status_code == 302
    phase = draft.phases.get(key="side-by-side")
    assert (phase.layout, phase.reference_label, phase.takes_marks) == ("comparative", labels[0], False)
    table = client.get(url).content.decode()
    assert f"comparative (reference: {labels[0]})" in table
