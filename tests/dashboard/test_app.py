"""What ``create_app`` leaves the process with, beyond the app itself."""

import gc

from dashboard import app as app_module


def test_start_up_objects_are_frozen_out_of_later_collections(database_url):
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # Python's defaults
    try:
        app_module.create_app()
        # Dash, plotly and the pages: hundreds of thousands of objects no later pass walks again.
        assert gc.get_freeze_count() > 100_000
        assert gc.get_threshold() == app_module.GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
