"""Scripts the local engine runs as processes of their own, like steps (not components).

Each sits in this folder alone because a script's folder goes first on ``sys.path`` while it
runs: the engine's own modules must not shadow a library's.
"""
