"""Driver side of the study toolkit: CLI, study spec, registry, data and launch."""
