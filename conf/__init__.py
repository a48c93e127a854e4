"""The Hydra configs of lightning_r1: a package so the wheel ships them as ``lightning_r1.conf`` (pyproject.toml);
the apps find them by path (``lightning_r1/config_dir.py``)."""
