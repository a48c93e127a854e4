"""The Hydra configs of lightning_r1 (a package so Hydra finds them as pkg://lightning_r1.conf when installed)."""
