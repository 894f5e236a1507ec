"""The domain core: the vocabulary every layer shares, and nothing else.

Run specs and their defaults, statuses, step names, the pipeline graph, the promotion outcome,
what backends report, and the error hierarchy. It imports nothing from the rest of ``app``;
every other layer imports it (domain <- store <- backends <- lifecycle <- api <- cli).
"""
