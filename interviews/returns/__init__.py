"""The national returns together: SSDA903 Missing (`ssda903`), Annex A List 8
(`annex_a`) and their pages (`views`)."""
