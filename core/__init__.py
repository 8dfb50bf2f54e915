"""The ground floor: what trainables, search spaces, the analysis and the driver share.

Data types (:mod:`core.splits`), errors and exit codes (:mod:`core.errors`), the results
layout's file names (:mod:`core.layout`), the names the spaces offer (:mod:`core.names`),
shared defaults (:mod:`core.defaults`) and local-or-URI storage (:mod:`core.storage`).
Torch-free and Ray-free; it imports nothing of the project's other packages.
"""
