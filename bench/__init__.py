"""Benchmarks (not part of the test suite): ``python -m bench [--quick] [--only NAME ...]``.

Every figure is printed as ``name: value (baseline value, ratio, target)`` with the
baseline measured in the same process on the same machine.
"""
