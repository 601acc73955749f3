"""Language identification and codes: re-exported from :mod:`guard.language`.

The guard needs the language of a text for its per-language thresholds, and the guard
sits below the app, so the module lives there.
"""

from guard.language import (  # noqa: F401
    _STOP_SETS,
    LANGUAGE_NAMES,
    LANGUAGES,
    detect_language,
    normalise_language,
)
