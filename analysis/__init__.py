"""Study results -> tables and figures (``python -m analysis.report`` / ``analysis.compare``).

``results`` reads a results directory into pandas frames, ``intervals`` gives every mean its
confidence interval, ``tables`` builds and writes the tables, ``summary`` the headline
numbers, ``importance`` fANOVA, ``figures`` the PNGs, ``latent`` the VAE latent walk;
``report`` and ``compare`` are the command lines. Nothing here imports torch or ray at import
time.
"""
