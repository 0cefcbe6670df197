"""Which reference lesions of a case a lesion-targeted question is about.

A reader study may ask about one chosen lesion per case rather than the whole case, e.g.
"visibility of the lesion" rated on the median-sized metastasis of each patient. The
rules:

* ``all``: every lesion of the case;
* ``largest``: the lesion with the largest size (ties: the first in the given order);
* ``median``: the median-sized lesion; with an even count, the smaller of the two middle
  lesions (the lower median, e.g. the 2nd of 4 sorted by size), so the chosen lesion is
  always one of the case's lesions. This is the definition of the brain-metastasis
  super-resolution study's image-quality phase ("the median-sized lesion; the smaller of
  the two medians when the count is even"). Ties in size keep the given order (a stable sort).

A case without lesions has no lesion to ask about: the rule returns an empty list.
"""

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: The rules, in the order a form lists them.
LESION_RULES = ("all", "largest", "median")


def lesions_chosen(rule: str, lesions: Sequence[T], size: Callable[[T], float]) -> list[T]:
    """The lesions of one case that ``rule`` chooses, in the given order (``all``) or one lesion.

    ``size`` gives a lesion's size (e.g. its largest diameter in mm). Raises ``ValueError``
    for an unknown rule.
    """
    if rule not in LESION_RULES:
        raise ValueError(f"Unknown lesion rule {rule!r}; the rules are: {', '.join(LESION_RULES)}.")
    if not lesions:
        return []
    if rule == "all":
        return list(lesions)
    by_size = sorted(range(len(lesions)), key=lambda i: size(lesions[i]))  # stable: ties keep order
    if rule == "largest":
        largest = size(lesions[by_size[-1]])
        return [next(lesion for lesion in lesions if size(lesion) == largest)]
    return [lesions[by_size[(len(lesions) - 1) // 2]]]
