"""Typed, validated run configuration (YAML → pydantic), one model per section.

Unknown keys and out-of-range values are errors that name the key path, so a typo never
silently falls back to a default. The sections live beside what they configure: ``data`` and
``split`` in :mod:`mmgraph.config.data`, ``graph``, ``teacher`` and ``student`` in
:mod:`mmgraph.config.models`, the encoders' in :mod:`encoders.config`, the prepared datasets'
options in :mod:`data_prep`; :mod:`mmgraph.config.run` assembles :class:`RunConfig` and
:mod:`mmgraph.config.loading` reads it from YAML.
"""

from encoders.config import (AudioEncoderConfig, CategoricalEncoderConfig, EncodersConfig,
                             ImageEncoderConfig, TextEncoderConfig)
from mmgraph.config.data import ColumnsConfig, DataConfig, SplitConfig
from mmgraph.config.loading import (MODEL_KEYS, PATH_KEYS, QUICKSTART_SETTINGS, load_config,
                                    merge_nested, read_config_file, resolve_paths,
                                    section_hash, validate_config)
from mmgraph.config.models import (FilterConfig, GraphConfig, OptimConfig, StudentConfig,
                                   StudentOptimConfig, TeacherConfig, TeacherOptimConfig)
from mmgraph.config.run import (RATING_METRICS, EvaluationConfig, RecommendConfig, RunConfig,
                                TuneConfig)
from mmgraph.strict import FLOAT32_RANGE

__all__ = ["FLOAT32_RANGE", "RATING_METRICS", "ColumnsConfig", "DataConfig", "SplitConfig",
           "TextEncoderConfig", "CategoricalEncoderConfig", "ImageEncoderConfig",
           "AudioEncoderConfig", "EncodersConfig", "GraphConfig", "OptimConfig", "FilterConfig",
           "TeacherOptimConfig", "StudentOptimConfig", "TeacherConfig", "StudentConfig",
           "EvaluationConfig", "RecommendConfig", "TuneConfig", "RunConfig", "PATH_KEYS",
           "MODEL_KEYS", "QUICKSTART_SETTINGS", "load_config", "read_config_file",
           "validate_config", "merge_nested", "resolve_paths", "section_hash"]
