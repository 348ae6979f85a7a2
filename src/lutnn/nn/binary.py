"""Binary activations and the teacher's DenseAffine + BatchNorm + binary activation block.

Conventions: a *bit* tensor holds {0, 1}; bit 1 stands for +1, bit 0 for -1.
``sign(0) = +1``.  Quantizers are pure straight-through functions found through the explicit
registry :data:`QUANTIZERS` (no import-time magic); :class:`SignSTE` is the thin module.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lutnn.errors import LutnnError


def hard_sign(x: Tensor) -> Tensor:
    """Sign with ``sign(0) = +1``: returns +1.0 where ``x >= 0``, else -1.0 (no gradient)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def ste_sign(x: Tensor) -> Tensor:
    """Sign forward, identity gradient backward (the plain straight-through estimator).

    Example:
        >>> x = torch.tensor([-0.5, 0.0, 2.0], requires_grad=True)
        >>> ste_sign(x).sum().backward(); x.grad.tolist()
        [1.0, 1.0, 1.0]
    """
    return x + (hard_sign(x) - x).detach()


class _ClippedSTE(torch.autograd.Function):
    """``sign(x)`` (exactly +-1, sign(0) = +1); backward passes the gradient where ``|x| <= 1``."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x.abs() <= 1)  # bool mask: 1 byte per element
        return hard_sign(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (inside,) = ctx.saved_tensors
        return grad * inside


def clipped_ste_sign(x: Tensor) -> Tensor:
    """Sign forward, clipped straight-through gradient: 1 where ``|x| <= 1``, else 0.

    lutnn's one STE convention (BNN's hardtanh surrogate): the teachers' binary activations
    and, through :func:`ste_bits`, the LUT layers' output bits use it.  The forward value is
    exactly +-1.

    Example:
        >>> x = torch.tensor([-2.0, 0.0, 0.5, 1.0], requires_grad=True)
        >>> clipped_ste_sign(x).sum().backward(); x.grad.tolist()
        [0.0, 1.0, 1.0, 1.0]
    """
    return _ClippedSTE.apply(x)


QUANTIZERS: dict[str, Callable[[Tensor], Tensor]] = {
    "ste": ste_sign,
    "clipped_ste": clipped_ste_sign,
}


def get_quantizer(name: str) -> Callable[[Tensor], Tensor]:
    """Look up a sign quantizer by name; an unknown name is a user error listing the known ones."""
    try:
        return QUANTIZERS[name]
    except KeyError:
        known = ", ".join(sorted(QUANTIZERS))
        raise LutnnError(f"unknown quantizer {name!r}; choose one of: {known}") from None


def bits_to_pm1(bits: Tensor) -> Tensor:
    """Map bits {0, 1} to values {-1, +1}."""
    return 2.0 * bits - 1.0


def pm1_to_bits(values: Tensor) -> Tensor:
    """Map values {-1, +1} to bits {0, 1} (gradients pass through scaled by 1/2)."""
    return (values + 1.0) * 0.5


def ste_bits(x: Tensor, quantizer: str = "clipped_ste") -> Tensor:
    """Bits ``[x >= 0]`` with the registered quantizer's gradient (halved, for bits).

    With the default, ``d bit / d x = 1/2`` where ``|x| <= 1``, else 0.
    """
    return pm1_to_bits(get_quantizer(quantizer)(x))


class SignSTE(nn.Module):
    """Binary activation: real pre-activation -> bits, ``bit = 1 iff x >= 0``, STE gradient."""

    def __init__(self, quantizer: str = "clipped_ste"):
        super().__init__()
        self.quantizer_name = quantizer
        self.quantizer = get_quantizer(quantizer)

    def forward(self, x: Tensor) -> Tensor:
        return pm1_to_bits(self.quantizer(x))

    def extra_repr(self) -> str:
        return f"quantizer={self.quantizer_name!r}"


#: most inputs of a neuron that may carry an MLP (``neuron_hidden``): one LUT6 copies it
MAX_HIDDEN_FAN_IN = 6


class BinaryLinear(nn.Linear):
    """The seed's DenseAffine + BatchNorm + binary activation, reading and writing bits.

    ``bits_out = [BN(W @ (2 * bits_in - 1)) >= 0]``.  With ``binary_weights=True`` the weights
    used in the forward pass are ``sign(W)`` (scale-free, sign(0) = +1) with a straight-through
    gradient into the real latent ``W``: the XNOR-Net form, exportable as integer popcount
    thresholds.  With ``binary_weights=False`` the weights stay real: the distillation teacher.
    No bias: BatchNorm's shift absorbs it.

    ``max_fan_in`` (0: off) connects each neuron to that many of its inputs, drawn at random
    when the layer is built and kept in the ``connections`` buffer: a teacher whose every
    neuron reads at most the 36 inputs a student tree of 6 LUT6 can read imitates exactly
    where a dense one is cut (the seed: fewer connections are easier to imitate).
    With ``prune_epochs`` = P > 0 the connections are learned instead: every input starts
    connected, and after each of the first P epochs (:meth:`end_epoch`) each neuron keeps only
    its inputs of largest ``|W|``, ``max_fan_in + (fan_in - max_fan_in) * (1 - e / P)^3`` of
    them after epoch e (gradual magnitude pruning), down to ``max_fan_in`` from epoch P on.

    ``neuron_hidden`` = H > 0 gives each neuron of at most :data:`MAX_HIDDEN_FAN_IN` inputs
    (its fan-in limited by ``max_fan_in``, or small by ``groups``) a small MLP over those
    inputs besides its weighted sum: ``s = W @ x + sum_h v_h relu(a_h . x_k + b_h)``, with
    ``x_k`` the neuron's connected inputs in ascending order.  The neuron then computes any
    function of its <= 6 inputs, not only a threshold one, and a LUT6 still copies it exactly
    (its 64 addresses evaluated: :meth:`neuron_preactivation`; NeuraLUT's idea).  ``v``
    starts at 0, so training starts from the plain neuron; while a pruned layer still has
    more inputs than ``max_fan_in`` the MLP waits (adds 0).

    ``groups`` splits inputs and outputs into ``groups`` independent blocks (as in a grouped
    convolution: weight shape ``[out, in // groups]``); ``groups = channels`` is a depthwise
    layer.  Inputs may carry any leading dims (``[..., in_features]``), e.g. ``[B, L, F]``
    from a lowered convolution; BatchNorm statistics are per output feature over all of them.

    Example:
        >>> layer = BinaryLinear(4, 3, binary_weights=True).eval()
        >>> layer(torch.tensor([[1., 0., 1., 1.]])).shape
        torch.Size([1, 3])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = False,
        device=None,
        dtype=None,
        *,
        binary_weights: bool = False,
        groups: int = 1,
        quantizer: str = "clipped_ste",
        weight_quantizer: str = "clipped_ste",
        max_fan_in: int = 0,
        prune_epochs: int = 0,
        neuron_hidden: int = 0,
    ):
        if groups < 1 or in_features % groups or out_features % groups:
            raise ValueError(
                f"in_features ({in_features}) and out_features ({out_features}) must be "
                f"divisible by groups ({groups})"
            )
        self.groups = groups
        super().__init__(in_features // groups, out_features, bias, device, dtype)
        self.in_features = in_features  # the full input width (weight has in // groups columns)
        self.binary_weights = binary_weights
        self.weight_quantizer_name = weight_quantizer
        self.weight_quantizer = get_quantizer(weight_quantizer)
        self.bn = nn.BatchNorm1d(out_features, device=device, dtype=dtype)
        self.act = SignSTE(quantizer)
        self.max_fan_in = max_fan_in
        if prune_epochs < 0:
            raise ValueError(f"prune_epochs must be >= 0, got {prune_epochs}")
        self.prune_epochs = prune_epochs
        self.register_buffer("connections", self._draw_connections(max_fan_in))
        self.neuron_hidden = neuron_hidden
        if neuron_hidden:
            k = self.neuron_fan_in()
            if k > MAX_HIDDEN_FAN_IN:
                raise ValueError(f"neuron_hidden needs neurons of at most {MAX_HIDDEN_FAN_IN} "
                                 f"inputs (a LUT copies them), these read {k}: set "
                                 f"max_fan_in <= {MAX_HIDDEN_FAN_IN}")
            self.hidden_in = nn.Parameter(torch.randn(out_features, neuron_hidden, k,
                                                      device=device) / math.sqrt(k))
            self.hidden_bias = nn.Parameter(torch.zeros(out_features, neuron_hidden,
                                                        device=device))
            self.hidden_out = nn.Parameter(torch.zeros(out_features, neuron_hidden,
                                                       device=device))

    def _draw_connections(self, max_fan_in: int) -> Tensor | None:
        """float {0, 1} ``[out, in // groups]``: ``max_fan_in`` ones per row at random
        (torch's global generator, so seeded builds repeat), all ones when they are to be
        pruned (``prune_epochs``), or None (every input connected) when ``max_fan_in`` is 0 or
        not below the fan-in."""
        out, fan_in = self.weight.shape
        if max_fan_in < 0:
            raise ValueError(f"max_fan_in must be >= 0, got {max_fan_in}")
        if max_fan_in == 0 or max_fan_in >= fan_in:
            return None
        if self.prune_epochs:
            return torch.ones(out, fan_in)
        order = torch.stack([torch.randperm(fan_in) for _ in range(out)])  # (out, F/g)
        return (order < max_fan_in).float()

    def neuron_fan_in(self) -> int:
        """Inputs each neuron reads once any pruning is done: ``max_fan_in`` or its group's."""
        per_group = self.weight.shape[1]
        return self.max_fan_in if self.connections is not None else per_group

    def neuron_inputs(self) -> Tensor | None:
        """int64 ``[out, k]``: each neuron's connected inputs, group-local slots in ascending
        order; None while a pruned layer still connects more than ``max_fan_in``."""
        out, per_group = self.weight.shape
        if self.connections is None:
            return torch.arange(per_group, device=self.weight.device).expand(out, per_group)
        k = self.max_fan_in
        if int(self.connections.sum(1).max()) > k:
            return None
        return self.connections.nonzero()[:, 1].reshape(out, k)  # row-major: sorted per row

    def _hidden_sum(self, x: Tensor) -> Tensor | float:
        """The neurons' MLP terms: +-1 inputs ``[..., in_features]`` -> ``[..., out]`` (0.0
        while the layer is still being pruned)."""
        slots = self.neuron_inputs()
        if slots is None:
            return 0.0
        out, per_group = self.weight.shape
        base = torch.arange(out, device=x.device) // (out // self.groups) * per_group  # (out,)
        xk = x[..., slots + base[:, None]]  # (..., out, k)
        h = torch.einsum("...ok,ohk->...oh", xk, self.hidden_in) + self.hidden_bias
        return (torch.relu(h) * self.hidden_out).sum(-1)  # (..., out)

    def _hidden_conv(self, x: Tensor, kernel_size: tuple[int, int],
                     stride: tuple[int, int]) -> Tensor | float:
        """The neurons' MLP terms on every patch of the padded +-1 image ``x``, as two
        convolutions: the hidden units' weights scattered onto each neuron's connected patch
        slots (``[out * H, C / groups, kh, kw]``), then each neuron's ``H`` units summed
        with its output weights; a 1x1 layer gathers its neurons' inputs per pixel instead
        (``out * H`` dense 1x1 filters cost ~20x its FLOPs).  ``[B, out, Ho, Wo]`` (0.0
        while still being pruned)."""
        slots = self.neuron_inputs()
        if slots is None:
            return 0.0
        out, per_group = self.weight.shape
        hidden = self.neuron_hidden
        if kernel_size == (1, 1):  # a pointwise layer: gather each neuron's k channels
            pixels = x[:, :, ::stride[0], ::stride[1]].permute(0, 2, 3, 1)  # (B, Ho, Wo, C)
            return self._hidden_sum(pixels).permute(0, 3, 1, 2)  # (B, out, Ho, Wo)
        index = slots[:, None, :].expand(-1, hidden, -1)  # (out, H, k)
        w = torch.zeros(out, hidden, per_group, dtype=x.dtype, device=x.device).scatter(
            2, index, self.hidden_in)  # (out, H, F/g): 0 off the neuron's inputs
        w = w.reshape(out * hidden, per_group // (kernel_size[0] * kernel_size[1]), *kernel_size)
        h = F.conv2d(x, w, self.hidden_bias.reshape(-1), stride=stride, groups=self.groups)
        h = torch.relu(h).unflatten(1, (out, hidden))  # (B, out, H, Ho, Wo)
        return (h * self.hidden_out[None, :, :, None, None]).sum(2)  # (B, out, Ho, Wo)

    @torch.no_grad()
    def neuron_preactivation(self, neurons: Tensor, slots: Tensor, bits: Tensor) -> Tensor:
        """Eval pre-activation ``BN(s)`` of ``neurons`` (int64 ``[M]``) on given values of
        group-local input ``slots`` (``[M, k]``, every connected input among them): ``bits``
        ``[M, A, k]`` ({0, 1}, e.g. all ``A = 2^k`` addresses) -> ``[M, A]``."""
        x = bits_to_pm1(bits.to(self.weight.dtype))  # (M, A, k)
        w = self.effective_weight()[neurons[:, None], slots]  # (M, k)
        s = (x * w[:, None, :]).sum(-1)  # (M, A)
        if self.bias is not None:
            s = s + self.bias[neurons][:, None]
        if self.neuron_hidden:
            mine = self.neuron_inputs()[neurons]  # (M, kh) the MLP's inputs, ascending
            match = mine[:, :, None] == slots[:, None, :]  # (M, kh, k)
            if not bool(match.any(-1).all()):
                raise ValueError("neuron_preactivation: a neuron's MLP reads an input the "
                                 "given slots leave out")
            pos = match.to(torch.int64).argmax(-1)  # (M, kh) where each MLP input sits
            xk = torch.gather(x, 2, pos[:, None, :].expand(-1, x.shape[1], -1))  # (M, A, kh)
            h = torch.einsum("mak,mhk->mah", xk, self.hidden_in[neurons])
            h = torch.relu(h + self.hidden_bias[neurons][:, None, :])  # (M, A, H)
            s = s + (h * self.hidden_out[neurons][:, None, :]).sum(-1)
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (out,)
        offset = bn.bias - bn.running_mean * scale
        return scale[neurons][:, None] * s + offset[neurons][:, None]

    def fan_in_after(self, epochs_done: int) -> int:
        """Inputs each neuron keeps after ``epochs_done`` epochs of a pruned layer (the cubic
        schedule of the class docstring; ``max_fan_in`` from epoch ``prune_epochs`` on)."""
        fan_in = self.weight.shape[1]
        left = max(0.0, 1.0 - epochs_done / self.prune_epochs) ** 3
        return self.max_fan_in + round((fan_in - self.max_fan_in) * left)

    @torch.no_grad()
    def end_epoch(self, epochs_done: int) -> bool:
        """Prune to :meth:`fan_in_after` ``(epochs_done)`` inputs per neuron, keeping the
        connected inputs of largest ``|W|`` (ties as ``torch.topk`` breaks them); returns
        whether any connection was cut. A no-op without ``prune_epochs`` or a limited fan-in."""
        if not self.prune_epochs or self.connections is None:
            return False
        keep = self.fan_in_after(epochs_done)
        if int(self.connections.sum(1).max()) <= keep:
            return False
        # unconnected inputs rank below every connected one (|W| >= 0 > -1)
        score = torch.where(self.connections > 0, self.weight.abs(), -1.0)  # (out, F/g)
        kept = torch.topk(score, keep, dim=1, sorted=False).indices
        self.connections.zero_().scatter_(1, kept, 1.0)
        return True

    def prune_to_limit(self) -> None:
        """Give a pruned layer the structure training leaves it with (``max_fan_in`` inputs
        per neuron, here those of largest ``|W|``): what a model rebuilt from its config
        needs before it can load trained weights or size a student."""
        if self.prune_epochs:
            self.end_epoch(self.prune_epochs)

    @torch.no_grad()
    def clip_parameters(self) -> None:
        """Keep binary latent weights in [-1, 1] (beyond, the clipped STE gives no gradient)."""
        if self.binary_weights:
            self.weight.clamp_(-1.0, 1.0)

    def effective_weight(self) -> Tensor:
        """The weights the forward pass uses: ``sign(W)`` (STE) if binary, else ``W``; times
        the connection mask when the fan-in is limited (unconnected inputs weigh 0)."""
        w = self.weight_quantizer(self.weight) if self.binary_weights else self.weight
        return w if self.connections is None else w * self.connections

    def connected_weight(self) -> Tensor:
        """The latent weights ``W`` with unconnected inputs at 0, ``[out, in // groups]``
        (what a student's weight-order wiring ranks)."""
        w = self.weight.detach()
        return w if self.connections is None else w * self.connections

    def linear_sum(self, bits: Tensor) -> Tensor:
        """``W @ (2 * bits - 1)``: [..., in_features] bits -> [..., out_features] sums."""
        if bits.shape[-1] != self.in_features:
            raise ValueError(
                f"BinaryLinear expects inputs [..., {self.in_features}], got {tuple(bits.shape)}"
            )
        x = bits_to_pm1(bits)
        w = self.effective_weight()  # (out, in // groups)
        if self.groups == 1:
            y = F.linear(x, w, self.bias)
            return y + self._hidden_sum(x) if self.neuron_hidden else y
        g = self.groups
        xg = x.unflatten(-1, (g, self.in_features // g))  # (..., g, in/g)
        wg = w.unflatten(0, (g, self.out_features // g))  # (g, out/g, in/g)
        y = torch.einsum("...gi,goi->...go", xg, wg).flatten(-2)  # (..., out)
        y = y if self.bias is None else y + self.bias
        return y + self._hidden_sum(x) if self.neuron_hidden else y

    def preactivation(self, bits: Tensor) -> Tensor:
        """``BN(W @ x)``, the real value whose sign is the output bit (a distillation target)."""
        s = self.linear_sum(bits)
        return self.bn(s.reshape(-1, self.out_features)).reshape(s.shape)

    def forward(self, bits: Tensor) -> Tensor:
        return self.act(self.preactivation(bits))

    def conv_forward(
        self,
        bits: Tensor,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> Tensor:
        """This layer applied to every patch of ``bits`` ``[B, C, H, W]`` as one ``F.conv2d``.

        Equals :class:`~lutnn.nn.conv.LoweredConv2d`'s unfold -> ``forward`` -> fold: the
        patch order ``c * kh * kw + i * kw + j`` is conv2d's weight order, a padded bit 0 is
        the value -1 (so the +-1 image is padded with -1 before a padding-free conv), and
        BatchNorm's statistics run over every batch element and position as before.
        Returns bits ``[B, out_features, Ho, Wo]``.
        """
        (kh, kw), (ph, pw) = kernel_size, padding
        c = self.in_features // (kh * kw)
        x = F.pad(bits_to_pm1(bits), (pw, pw, ph, ph), value=-1.0)  # (B, C, H+2ph, W+2pw)
        w = self.effective_weight().reshape(self.out_features, c // self.groups, kh, kw)
        s = F.conv2d(x, w, self.bias, stride=stride, groups=self.groups)  # (B, out, Ho, Wo)
        if self.neuron_hidden:
            s = s + self._hidden_conv(x, (kh, kw), stride)
        z = self.bn(s.flatten(2)).reshape(s.shape)  # BatchNorm1d over (B, out, Ho*Wo)
        return self.act(z)

    def extra_repr(self) -> str:
        hidden = f", neuron_hidden={self.neuron_hidden}" if self.neuron_hidden else ""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"binary_weights={self.binary_weights}, groups={self.groups}{hidden}"
        )


class BinaryMaxPool2d(nn.MaxPool2d):
    """Binary max pooling: on bits, the max of a window is the logical OR of the window."""


class GroupSum(nn.Module):
    """Class head: class score = popcount of its group of ``group_size`` consecutive bits.

    ``[B, C * G]`` bits -> ``[B, C]`` scores ``sum(bits[c*G:(c+1)*G]) / tau``.  ``tau`` only
    sharpens the softmax during training; the hardware compares raw popcounts, and the
    predicted class is the argmax with the lowest index winning ties (as ``torch.argmax``).
    """

    def __init__(self, num_classes: int, tau: float = 1.0):
        super().__init__()
        self.num_classes = num_classes
        self.tau = tau

    def forward(self, bits: Tensor) -> Tensor:
        if bits.dim() != 2 or bits.shape[1] % self.num_classes:
            raise ValueError(
                f"GroupSum expects [B, {self.num_classes} * G] bits, got {tuple(bits.shape)}"
            )
        return bits.unflatten(1, (self.num_classes, -1)).sum(-1) / self.tau  # (B, C)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, tau={self.tau}"
