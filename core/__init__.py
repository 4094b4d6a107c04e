"""startune's headless core: datasets, preparation, validation, backends, jobs, evaluation.

Nothing under ``core`` may import ``textual``, ``plotext`` or ``tui``; the test
``tests/core/test_import_hygiene.py`` holds that line.
"""

__version__ = "0.1.0"
