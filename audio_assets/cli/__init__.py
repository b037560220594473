"""Tools around the Dagster project: the ``audio-assets`` command, its backfill client for a running
webserver, and the speech corpora with known text (synthesised, and Debian's recorded prompts)."""
