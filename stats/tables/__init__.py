"""The analysis sections of a reader study, one module each; :func:`stats.study_tables.analyse_study`
composes them.

* :mod:`.table`: the :class:`Table` type, a section's result (:class:`Part`) and :func:`display`;
* :mod:`.design`: the ``design`` table and the cases every reader read under every condition;
* :mod:`.marks`: marks matched to the reference lesions (FROC data, ``lesion_matches``);
* :mod:`.jafroc`: JAFROC/wAFROC figures of merit and their Obuchowski-Rockette analysis;
* :mod:`.roc`: case-level ROC AUC, DeLong tests and the OR analysis of the AUC;
* :mod:`.sensitivity`: lesion sensitivity overall and by size, McNemar tests;
* :mod:`.per_case`: per-case sensitivity and specificity, false positives per case;
* :mod:`.likert`: Likert distributions, tests and agreement;
* :mod:`.external`: findings against an external reference;
* :mod:`.measurements`: objective measurements and image fidelity;
* :mod:`.characteristics`: case characteristics between groups of cases;
* :mod:`.overlap`: segmentation overlap with the reference masks (Dice, Jaccard, HD95, volumes);
* :mod:`.comparative`: comparative ("A vs B") readings: preference shares, sign and Wilcoxon tests.
"""

from .table import Cell, Part, Table, display

__all__ = ["Cell", "Part", "Table", "display"]
