"""Model configurations (typed dataclasses) and builders, found through :data:`MODELS`.

Every model is an ``nn.Sequential``: an input encoder (pixels 0..255 -> bits), binary layers
reading and writing bits, and a :class:`~lutnn.nn.binary.GroupSum` class head.  Keeping the
models flat and made of a few known blocks is what lets distillation and ``to_ir`` walk them.

The parts live one job per module, and this package re-exports all their names (private
helpers too), so ``from lutnn.models import build_model, MLPConfig`` keeps working:

* :mod:`lutnn.models.teachers`: the binary teachers (``teacher-mlp``, ``teacher-cnn``,
  ``teacher-mobilenet``): :class:`MLPConfig`, :class:`CNNConfig`, :class:`MobileNetConfig`,
  their builders, and the MobileNet's fan-in limits and neuron trees (:data:`TREE_FAN_IN`);
* :mod:`lutnn.models.lutnets`: the LUT-Nets (``lut-mlp``, ``lut-cnn``):
  :class:`LUTMLPConfig`, :class:`LUTCNNConfig`, their builders, and :class:`StudentConfig`;
* :mod:`lutnn.models.imported`: ``teacher-imported`` (``lutnn import``):
  :class:`ImportedConfig`, :func:`parse_imported_layer`, :func:`build_imported`;
* :mod:`lutnn.models.registry`: :class:`ModelSpec`, :data:`MODELS`, :func:`get_model_spec`,
  :func:`make_config`, :func:`config_to_dict`, :func:`build_model`, :func:`count_params`,
  :func:`count_lut_nodes`, and ``lut-student``'s builder (it builds its teacher by name);
* :mod:`lutnn.models._shared`: the helpers they share (input encoders, the lowered 3x3
  conv, the config field for ints that may be 0).
"""

from lutnn.models._shared import (  # noqa: F401  (private helpers, importable as before)
    _conv,
    _count,
    _encoder,
    _encoder_bits,
    _image_only,
    _input_encoder,
)
from lutnn.models.imported import (
    ImportedConfig,
    _pair_field,  # noqa: F401  (private, importable as before)
    build_imported,
    parse_imported_layer,
)
from lutnn.models.lutnets import (
    LUTCNNConfig,
    LUTMLPConfig,
    StudentConfig,
    build_lut_cnn,
    build_lut_mlp,
)
from lutnn.models.registry import (
    MODELS,
    ModelSpec,
    _coerce,  # noqa: F401  (private, importable as before)
    build_lut_student,
    build_model,
    config_to_dict,
    count_lut_nodes,
    count_params,
    get_model_spec,
    make_config,
)
from lutnn.models.teachers import (  # noqa: F401  (the _helpers, importable as before)
    TREE_FAN_IN,
    CNNConfig,
    MLPConfig,
    MobileNetConfig,
    _dense_stack,
    _halvings,
    _neuron_layer,
    _output_size,
    build_cnn,
    build_mlp,
    build_mobilenet,
)

__all__ = [
    "MODELS",
    "TREE_FAN_IN",
    "CNNConfig",
    "ImportedConfig",
    "LUTCNNConfig",
    "LUTMLPConfig",
    "MLPConfig",
    "MobileNetConfig",
    "ModelSpec",
    "StudentConfig",
    "build_cnn",
    "build_imported",
    "build_lut_cnn",
    "build_lut_mlp",
    "build_lut_student",
    "build_mlp",
    "build_mobilenet",
    "build_model",
    "config_to_dict",
    "count_lut_nodes",
    "count_params",
    "get_model_spec",
    "make_config",
    "parse_imported_layer",
]
