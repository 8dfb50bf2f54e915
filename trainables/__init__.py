"""Trainables: one module per method family plus the shared loop, checkpoints, nets, k-NN
and metrics.

A trainable is a function ``train(config, data)`` run by Ray Tune; it never parses argv
and never reads files other than its own checkpoint.
"""
