"""factory_boy factories for the reader-study models.

Use them in tests; they build consistent object graphs (a Reading's series and
session belong to the same study).
"""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.models import Answer, LesionMark, Reading, ReadingSession
from readerstudy.references.models import ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.studies.models import Case, Condition, Question, ReaderParticipation, Study

PASSWORD = "pw-for-tests"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save()

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        if create and extracted:
            for role in extracted:
                obj.groups.add(Group.objects.get_or_create(name=role)[0])


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")

    @factory.post_generation
    def coordinators(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.coordinators.add(*extracted)

    @factory.post_generation
    def statisticians(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.statisticians.add(*extracted)


class ConditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Condition

    study = factory.SubFactory(StudyFactory)
    label = factory.Sequence(lambda n: f"COND{n}")
    order = factory.Sequence(lambda n: n)


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    study = factory.SubFactory(StudyFactory)
    code = factory.Sequence(lambda n: f"CASE{n:03d}")


class ImageSeriesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImageSeries

    case = factory.SubFactory(CaseFactory)
    condition = factory.SubFactory(ConditionFactory, study=factory.SelfAttribute("..case.study"))
    series_instance_uid = factory.Sequence(lambda n: f"2.25.{1000 + n}")
    study_instance_uid = factory.Sequence(lambda n: f"2.25.{900000 + n}")
    modality = "MR"
    description = factory.LazyAttribute(lambda s: f"series {s.condition.label}")
    rows = 64
    columns = 64
    num_slices = 8
    pixel_spacing = [1.0, 1.0]
    slice_spacing = 2.0
    slice_thickness = 2.0
    orientation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    origin = [0.0, 0.0, 0.0]


class ReaderParticipationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReaderParticipation

    study = factory.SubFactory(StudyFactory)
    user = factory.SubFactory(UserFactory, roles=["reader"])
    code = factory.Sequence(lambda n: f"R{n}")


class ReadingSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReadingSession

    participation = factory.SubFactory(ReaderParticipationFactory)
    number = 1


class ReadingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reading

    session = factory.SubFactory(ReadingSessionFactory)
    series = factory.SubFactory(
        ImageSeriesFactory,
        case__study=factory.SelfAttribute("...session.participation.study"),
    )
    position = factory.Sequence(lambda n: n + 1)


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    study = factory.SubFactory(StudyFactory)
    key = factory.Sequence(lambda n: f"q{n}")
    text = factory.Sequence(lambda n: f"Question {n}")
    kind = Question.Kind.LIKERT
    scale = [
        {"value": 1, "label": "Non-diagnostic"},
        {"value": 2, "label": "Poor"},
        {"value": 3, "label": "Fair"},
        {"value": 4, "label": "Good"},
        {"value": 5, "label": "Excellent"},
    ]
    order = factory.Sequence(lambda n: n)


class AnswerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Answer

    reading = factory.SubFactory(ReadingFactory)
    question = factory.SubFactory(
        QuestionFactory, study=factory.SelfAttribute("..reading.session.participation.study")
    )
    value = 3


class LesionMarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LesionMark

    reading = factory.SubFactory(ReadingFactory)
    slice_index = 3
    x = 20.0
    y = 30.0
    rating = 3


class ReferenceSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceSet

    study = factory.SubFactory(StudyFactory)
    source = ReferenceSet.Source.CONSENSUS


class ReferenceStandardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceStandard

    case = factory.SubFactory(CaseFactory)
    reference_set = factory.SubFactory(ReferenceSetFactory, study=factory.SelfAttribute("..case.study"))
    is_abnormal = True


class ReferenceLesionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceLesion

    reference = factory.SubFactory(ReferenceStandardFactory)
    label = factory.Sequence(lambda n: f"L{n}")
    lesion_type = "metastasis"
    size_mm = 6.0
    x_mm = 10.0
    y_mm = 12.0
    z_mm = 4.0
