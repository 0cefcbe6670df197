"""stats: the statistics of reader studies, as a plain Python library (never imports Django).

Its scope: reader-study data (ROC, FROC, LROC) and its file formats, figures of
merit (ROC AUC, JAFROC family), DBM and Obuchowski-Rockette MRMC analyses and the
paired tests of the published super-resolution studies. The analyses are being
built and validated against RJafroc's reference results; nothing is exported yet.
"""
