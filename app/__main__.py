"""`python -m app ...` is `trainctl ...`."""

from app.cli import main

raise SystemExit(main())
