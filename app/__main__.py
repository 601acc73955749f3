"""``python -m app`` is the same as the ``kateder`` console script."""

from app.cli import main

main()
