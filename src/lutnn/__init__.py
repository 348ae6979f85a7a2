"""lutnn: FPGA-native LUT networks.

Conventions used everywhere in lutnn (stated once, here):

* A *bit* tensor holds float values in {0, 1}; bit 1 stands for the value +1 and bit 0 for -1,
  so ``value = 2 * bit - 1``.  Every binary layer boundary carries bits.
* ``sign(0) = +1``: a pre-activation of exactly zero gives bit 1.
* LUT address bit order: a node with inputs ``x_0 .. x_{k-1}`` reads table entry
  ``address = sum(x_j << j)`` (input 0 is the least significant address bit).
* Class read-out: class score = popcount of its group of output bits; argmax takes the
  *lowest* class index among ties (as ``torch.argmax`` and the emitted Verilog do).
"""

__version__ = "0.1.0"
