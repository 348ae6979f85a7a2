"""Data: IDX/MNIST loading (found, fetched or cached; verified), datasets, input encodings.

Pipeline position: ``data -> nn -> distill -> ir -> sim / hdl``.  Images are uint8
``[n, C, H, W]``; :mod:`lutnn.data.encodings` turns pixels into bits by integer comparisons.
"""

from lutnn.data.datasets import Dataset, batches, load_dataset, split_indices
from lutnn.data.encodings import (
    ENCODERS,
    ComparatorEncoder,
    DistributiveThermometer,
    FeatureThermometer,
    ThermometerEncoder,
    ThresholdEncoder,
    UniformThermometer,
    fit_encoders,
    get_encoder,
    thermometer_thresholds,
)
from lutnn.data.idx import read_idx, write_idx
from lutnn.data.mnist import cache_dir, fetch_mnist, load_mnist, mnist_folder

__all__ = [
    "ENCODERS",
    "ComparatorEncoder",
    "Dataset",
    "DistributiveThermometer",
    "FeatureThermometer",
    "ThermometerEncoder",
    "ThresholdEncoder",
    "UniformThermometer",
    "batches",
    "cache_dir",
    "fetch_mnist",
    "fit_encoders",
    "get_encoder",
    "load_dataset",
    "load_mnist",
    "mnist_folder",
    "read_idx",
    "split_indices",
    "thermometer_thresholds",
    "write_idx",
]
