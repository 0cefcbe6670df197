"""The coordinator's study set-up: templates, questions, readers, locking, and their pages."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from readerstudy.audit.models import AuditEvent
from readerstudy.reading.models import Reading
from readerstudy.studies import services as setup
from readerstudy.studies.models import Question, ReaderParticipation, Study, validate_scale
from readerstudy.studies.policy import COORDINATOR, READER, STATISTICIAN, has_role
from readerstudy.studies.study_templates import STUDY_TEMPLATES
from tests import factories as f

pytestmark = pytest.mark.django_db

CONFIDENCE = [
    {"value": 1, "label": "possibly"},
    {"value": 2, "label": "probably"},
    {"value": 3, "label": "likely"},
    {"value": 4, "label": "definitely"},
]
QUALITY_5 = ["non-diagnostic", "poor", "fair", "good", "excellent"]


def labels(scale):
    return [point["label"] for point in scale]


def values(scale):
    return [point["value"] for point in scale]


def create(template_key, coordinator, slug="new-study", **kwargs):
    return setup.study_create_from_template(
        template_key=template_key, name="New study", slug=slug, washout_days=14, actor=coordinator, **kwargs
    )


@pytest.fixture
def draft(coordinator):
    return create("brain-mets-froc", coordinator, slug="draft-study")


@pytest.fixture
def reader(db):
    return f.UserFactory(username="plainreader", roles=[READER])


@pytest.fixture
def other_coordinator(db):
    return f.UserFactory(username="othercoord", roles=[COORDINATOR])


# --- templates -----------------------------------------------------------------------------------


def test_knee_template_is_the_three_arm_design_with_quality_items_and_findings(coordinator):
    study = create("knee-3arm", coordinator)
    assert study.status == Study.Status.DRAFT
    assert study.washout_days == 14
    assert list(study.conditions.values_list("label", flat=True)) == ["LR", "SR", "HR"]
    assert list(study.conditions.values_list("order", flat=True)) == [0, 1, 2]
    assert study.mark_scale == []  # no lesion marks
    questions = {q.key: q for q in study.questions.all()}
    assert list(questions) == [
        "overall_quality",
        "noise",
        "visibility_menisci",
        "visibility_cruciate_ligaments",
        "visibility_cartilage",
        "visibility_bone_marrow",
        "meniscal_tear_medial",
        "meniscal_tear_lateral",
        "acl_tear",
        "cartilage_lesion",
        "bone_marrow_oedema",
        "comment",
    ]
    assert labels(questions["overall_quality"].scale) == QUALITY_5
    assert values(questions["noise"].scale) == [1, 2, 3, 4, 5]
    for key in ("visibility_menisci", "visibility_cruciate_ligaments", "visibility_cartilage"):
        assert questions[key].kind == Question.Kind.LIKERT
        assert labels(questions[key].scale)[0] == "not visible"
        assert len(questions[key].scale) == 5
    for key in (
        "meniscal_tear_medial",
        "meniscal_tear_lateral",
        "acl_tear",
        "cartilage_lesion",
        "bone_marrow_oedema",
    ):
        assert questions[key].kind == Question.Kind.FINDING
        assert questions[key].scale == CONFIDENCE
    assert questions["comment"].kind == Question.Kind.TEXT and not questions["comment"].required
    assert "arthroscopy" in study.description
    assert list(study.coordinators.all()) == [coordinator]
    event = AuditEvent.objects.get(action="study.create", study=study)
    assert event.actor == coordinator and event.data["template"] == "knee-3arm"


def test_brain_template_is_the_two_arm_froc_design(coordinator):
    study = create("brain-mets-froc", coordinator)
    assert list(study.conditions.values_list("label", flat=True)) == ["LR", "SR"]
    assert study.mark_scale == CONFIDENCE
    questions = {q.key: q for q in study.questions.all()}
    assert labels(questions["overall_quality"].scale) == QUALITY_5
    for key in ("noise", "sharpness", "contrast", "artefacts"):
        assert questions[key].kind == Question.Kind.LIKERT
        assert values(questions[key].scale) == [1, 2, 3, 4], key
    assert questions["metastasis_present"].kind == Question.Kind.FINDING
    assert questions["metastasis_present"].scale == CONFIDENCE
    assert "JAFROC" in study.description


def test_image_quality_template_has_two_conditions_and_likert_items_only(coordinator):
    study = create("image-quality", coordinator, description="Our own words")
    assert study.conditions.count() == 2
    assert study.mark_scale == []
    assert set(study.questions.values_list("kind", flat=True)) == {Question.Kind.LIKERT}
    assert study.description == "Our own words"


@pytest.mark.parametrize("key", list(STUDY_TEMPLATES))
def test_every_template_question_is_valid(key):
    template = STUDY_TEMPLATES[key]
    assert template.title and template.description
    study = Study(name="x", slug="x")
    for spec in template.all_questions:
        question = Question(
            study=study,
            key=spec.key,
            text=spec.text,
            kind=spec.kind,
            scale=[{"value": v, "label": label} for v, label in spec.scale],
        )
        question.full_clean(exclude=["study", "phase"], validate_constraints=False)
    validate_scale([{"value": v, "label": label} for v, label in template.mark_scale])
    assert len({q.key for q in template.all_questions}) == len(template.all_questions)


def test_unknown_template_and_taken_slug_are_refused(coordinator):
    with pytest.raises(setup.UnknownStudyTemplate):
        create("no-such-template", coordinator)
    create("image-quality", coordinator, slug="taken")
    with pytest.raises(setup.SlugTaken):
        create("image-quality", coordinator, slug="taken")
    assert Study.objects.filter(slug="taken").count() == 1


# --- questions -----------------------------------------------------------------------------------


def test_questions_can_be_added_edited_moved_and_deleted_in_a_draft(draft, coordinator):
    first_keys = list(draft.questions.values_list("key", flat=True))
    question = setup.question_create(
        study=draft,
        key="diagnostic_confidence",
        text="Diagnostic confidence",
        kind=Question.Kind.LIKERT,
        scale=[{"value": 1, "label": "low"}, {"value": 2, "label": "high"}],
        actor=coordinator,
    )
    assert list(draft.questions.values_list("key", flat=True)) == [*first_keys, "diagnostic_confidence"]
    setup.question_update(question=question, text="Confidence in the diagnosis", actor=coordinator)
    question.refresh_from_db()
    assert question.text == "Confidence in the diagnosis"
    setup.question_move(question=question, direction="up", actor=coordinator)
    keys = list(draft.questions.values_list("key", flat=True))
    assert keys[-2:] == ["diagnostic_confidence", first_keys[-1]]
    # Moving the first question up changes nothing.
    setup.question_move(question=draft.questions.first(), direction="up", actor=coordinator)
    assert list(draft.questions.values_list("key", flat=True)) == keys
    setup.question_delete(question=question, actor=coordinator)
    assert list(draft.questions.values_list("key", flat=True)) == first_keys
    assert list(draft.questions.values_list("order", flat=True)) == list(range(len(first_keys)))
    actions = set(AuditEvent.objects.filter(study=draft).values_list("action", flat=True))
    assert {"question.create", "question.update", "question.move", "question.delete"} <= actions


def test_invalid_questions_are_refused(draft, coordinator):
    def add(**kwargs):
        fields = dict(
            study=draft, key="new_q", text="New", kind=Question.Kind.LIKERT, scale=[], actor=coordinator
        )
        return setup.question_create(**{**fields, **kwargs})

    with pytest.raises(ValidationError, match="at least two"):
        add(scale=[{"value": 1, "label": "only"}])
    with pytest.raises(ValidationError, match="no scale"):
        add(kind=Question.Kind.TEXT, scale=[{"value": 1, "label": "a"}, {"value": 2, "label": "b"}])
    with pytest.raises(ValidationError, match="already exists"):
        add(key="noise", scale=CONFIDENCE)
    assert not draft.questions.filter(key="new_q").exists()


def _every_question_edit(study, coordinator):
    question = study.questions.first()
    return [
        lambda: setup.question_create(
            study=study, key="x", text="X", kind=Question.Kind.TEXT, scale=[], actor=coordinator
        ),
        lambda: setup.question_update(question=question, text="Changed", actor=coordinator),
        lambda: setup.question_move(question=question, direction="down", actor=coordinator),
        lambda: setup.question_delete(question=question, actor=coordinator),
    ]


def test_questions_cannot_change_once_reading_is_open(draft, coordinator):
    draft.status = Study.Status.ACTIVE
    draft.save()
    before = list(draft.questions.values_list("key", "text", "order"))
    for edit in _every_question_edit(draft, coordinator):
        with pytest.raises(setup.StudyNotEditable, match="not a draft"):
            edit()
    assert list(draft.questions.values_list("key", "text", "order")) == before


def test_questions_cannot_change_once_a_reader_has_answered(draft, coordinator):
    f.AnswerFactory(reading__session__participation__study=draft, question=draft.questions.first())
    assert draft.status == Study.Status.DRAFT
    for edit in _every_question_edit(draft, coordinator):
        with pytest.raises(setup.StudyNotEditable, match="already recorded"):
            edit()
    assert isinstance(setup.StudyNotEditable("x"), ValueError)


def test_questions_page_adds_with_typed_scale_and_ignores_a_double_submit(client, draft, coordinator):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_questions", args=[draft.slug])
    data = {
        "text": "Motion artefacts",
        "key": "",
        "kind": "likert",
        "scale": "1 = severe\n2 = mild\n\n3 = none",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    question = draft.questions.get(key="motion_artefacts")
    assert question.scale == [
        {"value": 1, "label": "severe"},
        {"value": 2, "label": "mild"},
        {"value": 3, "label": "none"},
    ]
    assert question.required is False  # an unchecked box
    response = client.post(url, data, follow=True)
    assert draft.questions.filter(key="motion_artefacts").count() == 1
    assert "was already added" in response.content.decode()


def test_questions_page_shows_clear_errors(client, draft, coordinator):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_questions", args=[draft.slug])
    response = client.post(url, {"text": "Bad", "kind": "likert", "scale": "1 poor"})
    assert response.status_code == 200
    assert "is not of the form" in response.content.decode()
    response = client.post(url, {"text": "Other", "key": "noise", "kind": "likert", "scale": "1 = a\n2 = b"})
    assert "already exists" in response.content.decode()
    response = client.post(url, {"text": "Descending", "kind": "likert", "scale": "2 = a\n1 = b"})
    assert "increase" in response.content.decode()


def test_questions_page_edits_moves_and_deletes(client, draft, coordinator):
    client.force_login(coordinator)
    noise = draft.questions.get(key="noise")
    edit_url = reverse("readerstudy:study_question_edit", args=[draft.slug, noise.pk])
    page = client.get(edit_url).content.decode()
    assert "1 = severe" in page  # the scale as lines
    response = client.post(
        edit_url,
        {"text": "Noise", "key": "noise", "kind": "likert", "scale": "1 = a\n2 = b", "required": "on"},
    )
    assert response.status_code == 302
    noise.refresh_from_db()
    assert (noise.text, labels(noise.scale)) == ("Noise", ["a", "b"])
    first = draft.questions.first()
    client.post(
        reverse("readerstudy:study_question_move", args=[draft.slug, first.pk]), {"direction": "down"}
    )
    assert list(draft.questions.values_list("key", flat=True))[:2] == ["noise", first.key]
    delete_url = reverse("readerstudy:study_question_delete", args=[draft.slug, noise.pk])
    assert client.post(delete_url).status_code == 302
    response = client.post(delete_url, follow=True)  # a second click
    assert "already deleted" in response.content.decode()
    assert not draft.questions.filter(key="noise").exists()


def test_questions_page_is_read_only_once_not_editable(client, draft, coordinator):
    draft.status = Study.Status.ACTIVE
    draft.save()
    client.force_login(coordinator)
    url = reverse("readerstudy:study_questions", args=[draft.slug])
    html = client.get(url).content.decode()
    assert "not a draft" in html and "read-only" in html
    assert "Add a question" not in html and "study_question_delete" not in html
    assert "Overall image quality" in html
    response = client.post(url, {"text": "Late", "kind": "text"}, follow=True)
    assert not draft.questions.filter(text="Late").exists()
    assert "not a draft" in response.content.decode()


# --- readers -------------------------------------------------------------------------------------


def test_inviting_a_new_reader_gives_a_working_set_password_link(client, draft, coordinator, mailoutbox):
    invitation = setup.reader_invite(
        study=draft,
        username="newreader",
        email="newreader@example.org",
        code="R1",
        group="A",
        actor=coordinator,
        site_url="http://testserver",
    )
    user = get_user_model().objects.get(username="newreader")
    assert invitation.user_created and invitation.participation.user == user
    assert not user.has_usable_password()
    assert has_role(user, READER)
    assert (invitation.participation.code, invitation.participation.group) == ("R1", "A")
    assert invitation.set_password_url.startswith("http://testserver/accounts/reset/")
    assert invitation.emailed_to == "newreader@example.org"
    assert len(mailoutbox) == 1 and invitation.set_password_url in mailoutbox[0].body
    assert mailoutbox[0].to == ["newreader@example.org"]
    assert AuditEvent.objects.filter(action="reader.invite", study=draft, actor=coordinator).exists()

    response = client.get(invitation.set_password_url)
    assert response.status_code == 302  # Django moves the token into the session
    set_password_url = response["Location"]
    assert client.get(set_password_url).status_code == 200
    password = "Knee-Reader-2026-xyz"
    response = client.post(set_password_url, {"new_password1": password, "new_password2": password})
    assert response.status_code == 302 and response["Location"].endswith("/reset/done/")
    assert client.login(username="newreader", password=password)
    # The link works once.
    client.logout()
    assert client.get(invitation.set_password_url).context["validlink"] is False


def test_inviting_an_existing_user_needs_no_link(draft, coordinator, mailoutbox):
    existing = f.UserFactory(username="Existing")
    invitation = setup.reader_invite(study=draft, username="existing", email="", code="R7", actor=coordinator)
    assert invitation.participation.user == existing
    assert not invitation.user_created and invitation.set_password_url == ""
    assert has_role(get_user_model().objects.get(pk=existing.pk), READER)
    assert mailoutbox == []
    assert get_user_model().objects.filter(username__iexact="existing").count() == 1


def test_invitation_errors(draft, coordinator):
    setup.reader_invite(study=draft, username="alice", email="", code="R1", actor=coordinator)
    with pytest.raises(setup.ReaderInviteError, match="already taken") as taken:
        setup.reader_invite(study=draft, username="bob", email="", code="r1", actor=coordinator)
    assert taken.value.field == "code"
    assert not get_user_model().objects.filter(username="bob").exists()  # nothing half-made
    with pytest.raises(setup.ReaderInviteError, match="already reads in this study as R1"):
        setup.reader_invite(study=draft, username="alice", email="", code="R2", actor=coordinator)
    with pytest.raises(setup.ReaderAlreadyInvited):
        setup.reader_invite(study=draft, username="alice", email="", code="R1", actor=coordinator)
    with pytest.raises(setup.ReaderInviteError, match="coordinates this study"):
        setup.reader_invite(
            study=draft, username=coordinator.username, email="", code="R3", actor=coordinator
        )
    statistician = f.UserFactory(username="stats", roles=[STATISTICIAN])
    draft.statisticians.add(statistician)
    with pytest.raises(setup.ReaderInviteError, match="analyses this study"):
        setup.reader_invite(study=draft, username="stats", email="", code="R3", actor=coordinator)
    with pytest.raises(setup.ReaderInviteError) as bad_email:
        setup.reader_invite(study=draft, username="carol", email="not-an-email", code="R4", actor=coordinator)
    assert bad_email.value.field == "email"
    assert isinstance(bad_email.value, ValueError)
    assert draft.participations.count() == 1


def test_readers_page_invites_once_and_shows_the_link_once(client, draft, coordinator, mailoutbox):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_readers", args=[draft.slug])
    assert 'value="R1"' in client.get(url).content.decode()  # the next free code is suggested
    data = {"username": "dora", "email": "dora@example.org", "code": "R1", "group": ""}
    response = client.post(url, data)
    assert response.status_code == 302
    html = client.get(url).content.decode()
    link = re.search(r'value="(http://testserver/accounts/reset/[^"]+)"', html).group(1)
    assert "Invited (no password set yet)" in html
    assert link not in client.get(url).content.decode()  # shown once
    response = client.post(url, data, follow=True)  # the same form again
    assert "was already invited" in response.content.decode()
    assert ReaderParticipation.objects.filter(study=draft).count() == 1
    assert get_user_model().objects.filter(username="dora").count() == 1
    response = client.post(url, {"username": "eve", "code": "R1"})
    assert response.status_code == 200 and "already taken" in response.content.decode()
    # A new link on request, while no password is set.
    participation = draft.participations.get()
    client.post(reverse("readerstudy:study_reader_link", args=[draft.slug, participation.pk]))
    assert "/accounts/reset/" in client.get(url).content.decode()


def test_readers_page_deactivates_and_reactivates(client, draft, coordinator):
    participation = f.ReaderParticipationFactory(study=draft, code="R5")
    client.force_login(coordinator)
    client.post(reverse("readerstudy:study_reader_deactivate", args=[draft.slug, participation.pk]))
    participation.refresh_from_db()
    assert not participation.active
    html = client.get(reverse("readerstudy:study_readers", args=[draft.slug])).content.decode()
    assert "Deactivated" in html
    assert AuditEvent.objects.filter(action="reader.deactivate", study=draft).count() == 1
    client.post(reverse("readerstudy:study_reader_reactivate", args=[draft.slug, participation.pk]))
    participation.refresh_from_db()
    assert participation.active


# --- locking -------------------------------------------------------------------------------------


@pytest.fixture
def active_study(study):
    part = f.ReaderParticipationFactory(study=study)
    f.ReadingFactory(session__participation=part, position=1, status=Reading.Status.SUBMITTED)
    f.ReadingFactory(session__participation=part, session__number=2, position=1)
    f.ReadingFactory(
        session__participation=f.ReaderParticipationFactory(study=study),
        position=1,
        status=Reading.Status.IN_PROGRESS,
    )
    return study


def test_lock_counts_unsubmitted_readings_and_refuses_twice(active_study, coordinator):
    assert setup.study_lock(study=active_study, actor=coordinator) == 2
    active_study.refresh_from_db()
    assert active_study.status == Study.Status.LOCKED
    event = AuditEvent.objects.get(action="study.lock", study=active_study)
    assert event.data == {
        "unsubmitted_readings": 2,
        "before": {"status": "active"},
        "after": {"status": "locked"},
    }
    with pytest.raises(setup.StudyNotLockable, match="already locked"):
        setup.study_lock(study=active_study, actor=coordinator)


def test_a_draft_cannot_be_locked(draft, coordinator):
    with pytest.raises(setup.StudyNotLockable, match="draft"):
        setup.study_lock(study=draft, actor=coordinator)
    draft.refresh_from_db()
    assert draft.status == Study.Status.DRAFT


def test_lock_page_confirms_then_locks(client, active_study, coordinator):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_lock", args=[active_study.slug])
    html = client.get(url).content.decode()
    assert "2 of 3 readings are not submitted" in html
    response = client.post(url, follow=True)
    assert "2 readings were not submitted" in response.content.decode()
    active_study.refresh_from_db()
    assert active_study.status == Study.Status.LOCKED
    response = client.post(url, follow=True)  # a second click
    assert "already locked" in response.content.decode()
    assert AuditEvent.objects.filter(action="study.lock").count() == 1


# --- new study page ------------------------------------------------------------------------------


def test_new_study_page_lists_the_templates_and_creates_a_draft(client, coordinator):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_create")
    html = client.get(url).content.decode()
    for template in STUDY_TEMPLATES.values():
        assert template.title in html and template.description in html
    data = {
        "template": "knee-3arm",
        "name": "Knee SR trial",
        "slug": "",
        "washout_days": "28",
        "description": "",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    study = Study.objects.get(slug="knee-sr-trial")
    assert response["Location"] == reverse("readerstudy:study_detail", args=[study.slug])
    assert study.washout_days == 28 and study.conditions.count() == 3
    response = client.post(url, data, follow=True)  # submitted twice
    assert "was already created" in response.content.decode()
    assert Study.objects.filter(name="Knee SR trial").count() == 1
    response = client.post(url, {**data, "name": "Another"} | {"slug": "knee-sr-trial"})
    assert response.status_code == 200 and "already exists" in response.content.decode()


def test_coordinator_sees_the_set_up_links(client, study, coordinator):
    client.force_login(coordinator)
    assert (
        reverse("readerstudy:study_create") in client.get(reverse("readerstudy:study_list")).content.decode()
    )
    html = client.get(reverse("readerstudy:study_detail", args=[study.slug])).content.decode()
    for name in ("study_questions", "study_readers", "study_lock"):
        assert reverse(f"readerstudy:{name}", args=[study.slug]) in html


# --- permissions ---------------------------------------------------------------------------------


def page_urls(study):
    question = f.QuestionFactory(study=study)
    return [
        reverse("readerstudy:study_questions", args=[study.slug]),
        reverse("readerstudy:study_question_edit", args=[study.slug, question.pk]),
        reverse("readerstudy:study_readers", args=[study.slug]),
        reverse("readerstudy:study_lock", args=[study.slug]),
    ]


def action_urls(study):
    question = f.QuestionFactory(study=study)
    participation = f.ReaderParticipationFactory(study=study)
    return [
        reverse("readerstudy:study_question_delete", args=[study.slug, question.pk]),
        reverse("readerstudy:study_question_move", args=[study.slug, question.pk]),
        reverse("readerstudy:study_reader_deactivate", args=[study.slug, participation.pk]),
        reverse("readerstudy:study_reader_reactivate", args=[study.slug, participation.pk]),
        reverse("readerstudy:study_reader_link", args=[study.slug, participation.pk]),
    ]


def test_anonymous_is_sent_to_login(client, study):
    for url in [reverse("readerstudy:study_create"), *page_urls(study)]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    for url in action_urls(study):
        response = client.post(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_readers_and_statisticians_are_refused(client, study, reader, statistician):
    for user in (reader, statistician):
        client.force_login(user)
        assert client.get(reverse("readerstudy:study_create")).status_code == 403
        assert client.post(reverse("readerstudy:study_create"), {}).status_code == 403
        for url in page_urls(study):
            assert client.get(url).status_code == 403, url
            assert client.post(url, {}).status_code == 403, url
        for url in action_urls(study):
            assert client.post(url, {"direction": "up"}).status_code == 403, url
    assert Study.objects.count() == 1 and study.status == Study.Status.ACTIVE


def test_coordinator_of_another_study_is_refused(client, study, other_coordinator):
    client.force_login(other_coordinator)
    assert client.get(reverse("readerstudy:study_create")).status_code == 200  # may make their own
    for url in page_urls(study):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {}).status_code == 403, url
    for url in action_urls(study):
        assert client.post(url, {"direction": "up"}).status_code == 403, url
    assert all(p.active for p in study.participations.all())
    study.refresh_from_db()
    assert study.status == Study.Status.ACTIVE


def test_coordinator_of_the_study_gets_every_page(client, study, coordinator):
    client.force_login(coordinator)
    assert client.get(reverse("readerstudy:study_create")).status_code == 200
    for url in page_urls(study):
        assert client.get(url).status_code == 200, url


def test_action_urls_take_only_post(client, study, coordinator):
    client.force_login(coordinator)
    for url in action_urls(study):
        assert client.get(url).status_code == 405, url
