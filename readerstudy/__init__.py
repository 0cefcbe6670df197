"""The reader-study Django app: studies, cases, sessions, readings, scores, references, exports."""
