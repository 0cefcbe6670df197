"""Compare the reviewers' drafts of one case: where they agree and where they do not.

Plain Python (standard library only, no Django), so the rules can be read and tested
on their own. ``references.services`` feeds it the submitted drafts of a case and writes
the adjudicated result into the case's final reference.

The comparison has one *item* per thing a draft can say; an item is *agreed* when every
draft says the same, otherwise it is a *discrepancy* with the *options* the drafts give
(each option names the drafts that gave it). Item keys are stable for the same drafts:

``abnormal``
    The case-level truth (abnormal / normal / not stated). Agreed when every draft gives
    the same value.
``finding:<key>``
    One per finding key that any draft recorded. A draft's value is (present, grade);
    a draft without the key has "not recorded". Agreed when all values are equal.
``lesion:<n>``
    One per lesion after matching the drafts' lesions (``n`` counts from 1 in the order
    of the lesions' mean positions: z, then y, then x, in patient coordinates).

Lesion matching. Two lesions of different drafts are the same lesion when the distance
between their centres (patient coordinates, mm) is less than half the larger of their
two diameters, and never less than ``MATCH_FLOOR_MM`` (2 mm), so that two points on a
tiny lesion still meet. Candidate pairs are taken greedily, closest first; a lesion is
matched to at most one lesion of each other draft (one-to-one). With more than two
drafts, two groups of lesions are joined only when they come from different drafts and
*every* pair across them matches by the rule above (complete linkage), so a chain of
near neighbours never merges two distant lesions. With two drafts this is plain greedy
one-to-one matching by smallest distance.

A matched lesion is agreed when every draft marked it, its diameters differ by at most
``SIZE_TOLERANCE_MM`` (2 mm) or ``SIZE_TOLERANCE_FRACTION`` (20 %) of the largest
diameter, whichever is more lenient, and its type is the same (ignoring case and extra
spaces). An agreed lesion enters the final at the mean of the centres with the mean
diameter. Otherwise it is a discrepancy whose options are each marking draft's lesion
(``from:<draft>``) and, when some drafts did not mark it, ``none`` (no lesion).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from math import dist

#: Two centres closer than this (mm) always match, however small the lesions.
MATCH_FLOOR_MM = 2.0
#: Diameters agree when they differ by at most this (mm) ...
SIZE_TOLERANCE_MM = 2.0
#: ... or by at most this fraction of the larger diameter.
SIZE_TOLERANCE_FRACTION = 0.2
ABNORMAL = "abnormal"
FINDING = "finding"
LESION = "lesion"
NO_LESION = "none"
FindingValue = tuple[bool, int | None]


@dataclass(frozen=True)
class LesionDraft:
    """A lesion as a reviewer marked it: centre in patient coordinates (LPS, mm), diameter, type.

    ``slice_index``, ``x`` and ``y`` are where it was marked on the image, if known.
    """

    label: str
    x_mm: float
    y_mm: float
    z_mm: float
    size_mm: float
    lesion_type: str = ""
    slice_index: int | None = None
    x: float | None = None
    y: float | None = None

    @property
    def centre(self) -> tuple[float, float, float]:
        return (self.x_mm, self.y_mm, self.z_mm)


@dataclass(frozen=True)
class Draft:
    """One reviewer's draft of one case. ``name`` identifies it in the result (e.g. its id)."""

    name: str
    is_abnormal: bool | None
    lesions: Sequence[LesionDraft] = ()
    findings: Mapping[str, FindingValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """One answer the drafts give to an item: its key, a description, the value and who gave it."""

    key: str
    label: str
    value: object
    drafts: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """One thing the drafts say about the case, agreed or not.

    ``value`` is what enters the final when the item is agreed (``None`` for a discrepancy,
    and for an agreed "not stated"/"not recorded"); ``reasons`` say why drafts disagree.
    """

    key: str
    kind: str
    options: tuple[Option, ...]
    agreed: bool
    value: object = None
    reasons: tuple[str, ...] = ()

    def option(self, key: str) -> Option | None:
        return next((option for option in self.options if option.key == key), None)


@dataclass(frozen=True)
class Comparison:
    """Every item of a case's drafts, in a stable order (abnormal, findings by key, lesions)."""

    drafts: tuple[str, ...]
    items: tuple[Item, ...]

    @property
    def discrepancies(self) -> list[Item]:
        return [item for item in self.items if not item.agreed]

    @property
    def agreed(self) -> list[Item]:
        return [item for item in self.items if item.agreed]

    def item(self, key: str) -> Item | None:
        return next((item for item in self.items if item.key == key), None)


@dataclass(frozen=True)
class Resolution:
    """The final version of a case: agreed items plus the adjudicator's decisions."""

    is_abnormal: bool | None
    findings: dict[str, FindingValue]
    lesions: list[LesionDraft]


class Undecided(ValueError):
    """Not every discrepancy was decided, or a decision names no option of its discrepancy."""

    def __init__(self, missing: list[str], invalid: list[str]):
        self.missing = missing
        self.invalid = invalid
        parts = []
        if missing:
            parts.append("Decide every discrepancy; still open: " + ", ".join(missing) + ".")
        if invalid:
            parts.append(" ".join(invalid))
        super().__init__(" ".join(parts))


# ----------------------------------------------------------------------------- descriptions


def abnormal_label(value: bool | None) -> str:
    return {True: "abnormal", False: "normal", None: "not stated"}[value]


def finding_label(value: FindingValue | None) -> str:
    if value is None:
        return "not recorded"
    present, grade = value
    if not present:
        return "absent"
    return "present" if grade is None else f"present, grade {grade}"


def lesion_label(lesion: LesionDraft) -> str:
    kind = f" {lesion.lesion_type}" if lesion.lesion_type else ""
    return f"{lesion.size_mm:.1f} mm{kind} at ({lesion.x_mm:.1f}, {lesion.y_mm:.1f}, {lesion.z_mm:.1f}) mm"


def _abnormal_key(value: bool | None) -> str:
    return {True: "abnormal", False: "normal", None: "not-stated"}[value]


def _finding_key(value: FindingValue | None) -> str:
    if value is None:
        return "not-recorded"
    present, grade = value
    if not present:
        return "absent"
    return "present" if grade is None else f"present-grade-{grade}"


def _normalise_finding(value: FindingValue) -> FindingValue:
    present, grade = value
    return (bool(present), int(grade) if present and grade is not None else None)


def _normalise_type(lesion_type: str) -> str:
    return " ".join(lesion_type.split()).casefold()


# ----------------------------------------------------------------------------- comparison


def _options(values: Iterable[tuple[str, object]], key_of, label_of) -> tuple[Option, ...]:
    """Group (draft name, value) pairs into options, in order of first appearance."""
    grouped: dict[str, tuple[object, list[str]]] = {}
    for name, value in values:
        key = key_of(value)
        grouped.setdefault(key, (value, []))[1].append(name)
    return tuple(Option(key, label_of(value), value, tuple(names)) for key, (value, names) in grouped.items())


def _value_item(key: str, kind: str, options: tuple[Option, ...], total: int) -> Item:
    if len(options) == 1:
        return Item(key, kind, options, agreed=True, value=options[0].value)
    reasons = tuple(f"{option.label}: {len(option.drafts)} of {total}" for option in options)
    return Item(key, kind, options, agreed=False, reasons=reasons)


def lesions_match(a: LesionDraft, b: LesionDraft) -> bool:
    """Whether two lesions of different drafts are the same lesion (see the module's rule)."""
    return dist(a.centre, b.centre) < max(max(a.size_mm, b.size_mm) / 2, MATCH_FLOOR_MM)


def sizes_agree(sizes: Sequence[float]) -> bool:
    """Whether diameters agree within SIZE_TOLERANCE_MM or SIZE_TOLERANCE_FRACTION of the largest."""
    largest, smallest = max(sizes), min(sizes)
    return largest - smallest <= max(SIZE_TOLERANCE_MM, SIZE_TOLERANCE_FRACTION * largest) + 1e-9


@dataclass(frozen=True)
class _Marked:
    """A lesion of one draft: the draft's position in the input, the lesion's in the draft."""

    draft: int
    index: int
    name: str
    lesion: LesionDraft


def match_lesions(drafts: Sequence[Draft]) -> list[dict[str, LesionDraft]]:
    """Groups of the same lesion across drafts, each {draft name: lesion}, at most one per draft.

    Greedy, closest pair first, complete linkage (see the module's rule); groups are
    ordered by their mean centre (z, y, x).
    """
    marked = [
        _Marked(d, i, draft.name, lesion)
        for d, draft in enumerate(drafts)
        for i, lesion in enumerate(draft.lesions)
    ]
    groups: list[list[_Marked]] = [[m] for m in marked]
    group_of = {id(m): group for m, group in zip(marked, groups, strict=True)}
    pairs = sorted(
        (dist(a.lesion.centre, b.lesion.centre), a.draft, a.index, b.draft, b.index, a, b)
        for a in marked
        for b in marked
        if a.draft < b.draft and lesions_match(a.lesion, b.lesion)
    )
    for *_, a, b in pairs:
        first, second = group_of[id(a)], group_of[id(b)]
        if first is second or {m.draft for m in first} & {m.draft for m in second}:
            continue
        if not all(lesions_match(m.lesion, n.lesion) for m in first for n in second):
            continue
        first.extend(second)
        for m in second:
            group_of[id(m)] = first
        second.clear()

    def order(group: list[_Marked]) -> tuple:
        mean = [sum(m.lesion.centre[axis] for m in group) / len(group) for axis in (2, 1, 0)]
        return (*mean, min((m.draft, m.index) for m in group))

    return [
        {m.name: m.lesion for m in sorted(group, key=lambda m: (m.draft, m.index))}
        for group in sorted((g for g in groups if g), key=order)
    ]


def lesions_merge(lesions: Sequence[LesionDraft]) -> LesionDraft:
    """One lesion from agreeing markings: mean centre and diameter, the first marking's type.

    The image position is kept (as the mean) only when all were marked on the same slice.
    """
    n = len(lesions)
    same_slice = len({lesion.slice_index for lesion in lesions}) == 1 and lesions[0].slice_index is not None
    with_pixels = same_slice and all(lesion.x is not None and lesion.y is not None for lesion in lesions)
    return LesionDraft(
        label="",
        x_mm=sum(lesion.x_mm for lesion in lesions) / n,
        y_mm=sum(lesion.y_mm for lesion in lesions) / n,
        z_mm=sum(lesion.z_mm for lesion in lesions) / n,
        size_mm=sum(lesion.size_mm for lesion in lesions) / n,
        lesion_type=" ".join(lesions[0].lesion_type.split()),
        slice_index=lesions[0].slice_index if with_pixels else None,
        x=sum(lesion.x for lesion in lesions) / n if with_pixels else None,  # type: ignore[misc]
        y=sum(lesion.y for lesion in lesions) / n if with_pixels else None,  # type: ignore[misc]
    )


def _lesion_item(key: str, group: dict[str, LesionDraft], names: Sequence[str]) -> Item:
    missing = tuple(name for name in names if name not in group)
    lesions = list(group.values())
    reasons = []
    if missing:
        reasons.append(f"marked in {len(group)} of {len(names)} drafts")
    sizes = [lesion.size_mm for lesion in lesions]
    if len(lesions) > 1 and not sizes_agree(sizes):
        reasons.append("diameters differ (" + " vs ".join(f"{s:.1f}" for s in sizes) + " mm)")
    types = {_normalise_type(lesion.lesion_type) for lesion in lesions}
    if len(types) > 1:
        given = " vs ".join(lesion.lesion_type or "no type" for lesion in lesions)
        reasons.append(f"types differ ({given})")
    options = tuple(
        Option(f"from:{name}", lesion_label(lesion), lesion, (name,)) for name, lesion in group.items()
    )
    if not reasons:
        merged = lesions_merge(lesions)
        option = Option("agreed", lesion_label(merged), merged, tuple(group))
        return Item(key, LESION, (option,), agreed=True, value=merged)
    if missing:
        options += (Option(NO_LESION, "no lesion", None, missing),)
    return Item(key, LESION, options, agreed=False, reasons=tuple(reasons))


def compare_drafts(drafts: Sequence[Draft]) -> Comparison:
    """Compare the drafts of one case (at least one; names unique). See the module's rules."""
    names = [draft.name for draft in drafts]
    if not drafts:
        raise ValueError("There are no drafts to compare.")
    if len(set(names)) != len(names):
        raise ValueError("Draft names must be unique.")
    total = len(drafts)
    items = [
        _value_item(
            ABNORMAL,
            ABNORMAL,
            _options(((d.name, d.is_abnormal) for d in drafts), _abnormal_key, abnormal_label),
            total,
        )
    ]
    findings = [{key: _normalise_finding(value) for key, value in d.findings.items()} for d in drafts]
    for key in sorted({key for given in findings for key in given}):
        values = ((d.name, given.get(key)) for d, given in zip(drafts, findings, strict=True))
        options = _options(values, _finding_key, finding_label)
        items.append(_value_item(f"{FINDING}:{key}", FINDING, options, total))
    for n, group in enumerate(match_lesions(drafts), start=1):
        items.append(_lesion_item(f"{LESION}:{n}", group, names))
    return Comparison(tuple(names), tuple(items))


def resolve(comparison: Comparison, decisions: Mapping[str, str]) -> Resolution:
    """The final version: every agreed item, and for each discrepancy the option decided.

    ``decisions`` maps discrepancy keys to option keys. Raises :class:`Undecided` when a
    discrepancy is not decided, a decision names an unknown option or no discrepancy.
    """
    missing, invalid = [], []
    chosen: dict[str, object] = {}
    for item in comparison.items:
        if item.agreed:
            chosen[item.key] = item.value
            continue
        decision = decisions.get(item.key)
        if not decision:
            missing.append(item.key)
            continue
        option = item.option(decision)
        if option is None:
            invalid.append(f"'{decision}' is not an option of {item.key}.")
        else:
            chosen[item.key] = option.value
    discrepancy_keys = {item.key for item in comparison.discrepancies}
    for key in decisions:
        if key not in discrepancy_keys:
            invalid.append(f"{key} is not a discrepancy of this case.")
    if missing or invalid:
        raise Undecided(missing, invalid)
    findings = {}
    lesions = []
    for item in comparison.items:
        value = chosen[item.key]
        if item.kind == FINDING and value is not None:
            findings[item.key.split(":", 1)[1]] = value
        elif item.kind == LESION and value is not None:
            lesions.append(value)
    return Resolution(is_abnormal=chosen[ABNORMAL], findings=findings, lesions=lesions)  # type: ignore[arg-type]
