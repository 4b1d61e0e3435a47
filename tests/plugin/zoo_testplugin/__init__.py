"""Tiny exact models for zoo's own tests; the hooks live in ``zoo_testplugin.hooks``."""
