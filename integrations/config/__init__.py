"""The configuration file (YAML): its models, validation and where errors are."""
