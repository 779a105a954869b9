"""Exceptions for user mistakes. The CLI prints them as one paragraph, without a traceback."""

__all__ = ["MmgraphError", "DataError", "ConfigError", "RunDirError", "ModelNotFoundError",
           "TrainingDivergedError"]


class MmgraphError(Exception):
    """Base class: a problem the user can fix; the message says where and how."""


class DataError(MmgraphError):
    """An input table is missing, unreadable or malformed (names the file, column or row)."""


class ConfigError(MmgraphError):
    """A config file is missing, unparsable, or has unknown keys or out-of-range values."""


class RunDirError(MmgraphError):
    """A run directory lacks the output of an earlier stage, or holds a different run's files."""


class ModelNotFoundError(MmgraphError):
    """A pretrained model is neither a local folder nor reachable offline."""


class TrainingDivergedError(MmgraphError):
    """A training loss became NaN or infinite; raised before that step touches the weights, so
    nothing non-finite is written (the checkpoint of the last validation stays)."""
