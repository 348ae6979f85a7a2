"""C emitter: a :class:`~lutnn.ir.Netlist` -> one bit-sliced C99 source file and its header.

The emitter only fills templates (:mod:`lutnn.csrc.templates`); the word operations of each
node are built by :class:`lutnn.csrc.words.Code`.  Every signal of the netlist is one word
(64 or 256 samples) in one array ``s``, numbered globally: the encoder's bits first, then
every node's new signals in order; a layer's node reads its inputs by those numbers, so
nothing is copied between layers.  What each node type becomes (one entry per type in
:data:`BLOCKS`):

* encoders (and the input bits of a netlist without one, as an encoder with the single
  threshold 1): ``pixel >= threshold`` for 64 samples at once with SIMD compares and a
  movemask over the gathered bytes of one pixel; a feature encoder (thresholds per input,
  fixed-point inputs of at most 8 bits) the same, one compare per input and threshold;
* LUT layer: each table on its true support (:func:`lutnn.ir.passes.minimize_lut`) as a
  reduced decision diagram over words; a table that is a wire is no code;
* threshold layer: XNOR = the input or its complement, a carry-save popcount, one AND/OR per
  bit of the compare with the constant threshold, XOR with ``invert``; a big layer (more
  than :data:`THRESHOLD_LOOP_CONNECTIONS` connections) the same arithmetic as a loop over
  tables of its inputs, weight signs and thresholds;
* OR layer: ORs; the lowered :class:`~lutnn.ir.LogicLayer`: its ops (LUT, ripple adder,
  compare) in order;
* heads: each class's score as a carry-save popcount of its group (or the lowered head's own
  ops), then a bit-sliced argmax tree in which the lower-index side wins ties.

The straight-line code is cut into ``noinline`` functions of a bounded size, so the compiler
neither inlines 100k statements into one function nor takes minutes on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from lutnn.csrc.templates import render
from lutnn.csrc.words import Code, Word, c_word, signal
from lutnn.errors import LutnnError
from lutnn.ir.dispatch import NodeTable
from lutnn.ir.layers import (
    AddOp,
    BitplaneEncoder,
    CompareOp,
    FeatureEncoder,
    GroupSumHead,
    InputEncoder,
    LogicLayer,
    LoweredHead,
    LutLayer,
    LutOp,
    Netlist,
    OrLayer,
    ThresholdLayer,
)
from lutnn.ir.passes.minimize import minimize_lut

WORDS = (64, 256)  # the word sizes the emitter knows (--word)
PART_LINES = 3000  # statements per generated function, about
# A threshold layer with more connections than this is emitted as tables + a loop (as
# straight-line code a 1024 x 2352 XNOR layer is ~2M lines and minutes of -O3).
THRESHOLD_LOOP_CONNECTIONS = 20_000
MAX_CLASSES = 256  # classes are written as uint8

# One function per node type: (node, _Context, input signals) -> output signals (bit layers)
# or (score signals, score width) (heads); the code goes into the context.
BLOCKS = NodeTable("csrc.emit")
# One function per logic op of the lowered form: (op, Code, local -> word) -> words written.
OPS = NodeTable("csrc.emit.ops")


@dataclass(frozen=True)
class CSource:
    """The emitted C and what a user (or the binding) needs to know about it.

    Attributes:
        name: base name of the files (``name.c``, ``name.h``, ``libname.so``).
        source: the C source text.
        header: the header text.
        word: samples per word (64 or 256).
        inputs: bytes per sample the entry points read.
        num_classes: classes of the head (0: no head).
        output_bits: bits of the last layer.
        signals: words of working memory per block.
        digest: sha256 of source + header (names a compiled library in a cache).
    """

    name: str
    source: str
    header: str
    word: int
    inputs: int
    num_classes: int
    output_bits: int
    signals: int
    digest: str


@dataclass
class _Unit:
    """One function of the evaluation, called in order: straight-line ``lines`` (wrapped in
    a ``part`` function here) or a ready ``definition`` with its ``call``."""

    comment: str = ""
    lines: list[str] = field(default_factory=list)
    definition: str = ""
    call: str = ""


@dataclass
class _Context:
    """Signals allocated so far and the functions emitted, in evaluation order."""

    free: int = 0
    units: list[_Unit] = field(default_factory=list)

    def new(self, count: int = 1) -> int:
        """The first of ``count`` fresh consecutive signals."""
        self.free += count
        return self.free - count

    def node(self, comment: str, code: Code, stores: list[tuple[int, Word]]) -> None:
        """One node's statements in a block scope, ending with its stores to signals."""
        lines = [render("node_open", comment=comment.replace("*/", "* /")),
                 *code.lines([w for _, w in stores])]
        lines += [render("store", index=i, value=c_word(w)) for i, w in stores]
        lines.append(render("node_close"))
        last = self.units[-1] if self.units else None
        if last is None or last.definition or (last.lines and
                                               len(last.lines) + len(lines) > PART_LINES):
            last = _Unit(comment=comment)
            self.units.append(last)
        last.lines.extend(lines)

    def function(self, definition: str, call: str) -> None:
        """A whole function (a table-driven layer), called after everything before it."""
        self.units.append(_Unit(definition=definition, call=call))

    def store_all(self, comment: str, code: Code, words: list[Word]) -> int:
        """Store ``words`` into fresh consecutive signals; returns the first."""
        first = self.new(len(words))
        self.node(comment, code, [(first + i, w) for i, w in enumerate(words)])
        return first


def _signals(sigs) -> list[str]:
    return [signal(int(i)) for i in sigs]


@BLOCKS.register(InputEncoder)
def _encoder(enc: InputEncoder, ctx: _Context, inputs: None) -> tuple[list[int], str]:
    """A loop per channel over its pixels, one compare per threshold; returns its code."""
    hw = enc.pixels // enc.channels
    first = ctx.new(enc.out_width)
    loops = []
    for c in range(enc.channels):
        body = []
        for t, thr in enumerate(enc.thresholds.tolist()):
            at = first + (c * enc.levels + t) * hw
            if 1 <= thr <= 255:
                body.append(render("encode_bit", first=at, threshold=thr))
            else:  # 0: always 1; 256: never
                body.append(render("encode_const", first=at, value=c_word(int(thr == 0))))
        loops.append(render("encode_loop", count=hw, first_input=c * hw, body="\n".join(body)))
    return list(range(first, first + enc.out_width)), "\n".join(loops)


@BLOCKS.register(BitplaneEncoder)
def _bitplane_encoder(enc: BitplaneEncoder, ctx: _Context,
                      inputs: None) -> tuple[list[int], str]:
    """A loop per channel over its pixels, one bit extraction per plane; returns its code."""
    hw = enc.pixels // enc.channels
    first = ctx.new(enc.out_width)
    loops = []
    for c in range(enc.channels):
        body = [render("encode_plane", first=first + (c * enc.planes + j) * hw, bit=7 - j)
                for j in range(enc.planes)]
        loops.append(render("encode_loop", count=hw, first_input=c * hw, body="\n".join(body)))
    return list(range(first, first + enc.out_width)), "\n".join(loops)


@BLOCKS.register(FeatureEncoder)
def _feature_encoder(enc: FeatureEncoder, ctx: _Context, inputs: None) -> tuple[list[int], str]:
    """One compare per feature and threshold (each feature has thresholds of its own); the
    inputs are the W-bit fixed-point values as bytes, so W must be at most 8."""
    if enc.width > 8:
        raise LutnnError(f"the C backend reads one byte per input: encoder {enc.name!r} has "
                         f"{enc.width}-bit features (at most 8); use --backend numpy")
    hw = enc.features // enc.channels
    first = ctx.new(enc.out_width)
    lines = []
    for q in range(enc.features):
        c, p = divmod(q, hw)
        for t, thr in enumerate(enc.thresholds[q].tolist()):
            at = first + (c * enc.levels + t) * hw + p
            if 1 <= thr <= 255:
                lines.append(render("encode_feature", index=at, feature=q, threshold=thr))
            else:  # 0: always 1; 2**W or more: never reached by a W-bit input
                lines.append(render("store", index=at, value=c_word(int(thr == 0))))
    return list(range(first, first + enc.out_width)), "\n".join(lines)


@BLOCKS.register(LutLayer)
def _lut_layer(layer: LutLayer, ctx: _Context, inputs: list[int]) -> list[int]:
    outputs = []
    for n in range(layer.out_width):
        sigs, table = minimize_lut([inputs[i] for i in layer.inputs[n].tolist()], layer.tables[n])
        if len(sigs) == 1 and table.tolist() == [0, 1]:  # a wire
            outputs.append(sigs[0])
            continue
        code = Code()
        word = code.lut(_signals(sigs), table)
        outputs.append(ctx.store_all(f"{layer.name}[{n}]: LUT{len(sigs)}", code, [word]))
    return outputs


def _threshold_word(code: Code, terms: list[Word], threshold: int, invert: bool) -> Word:
    """``(popcount(terms) >= threshold) XOR invert`` over words."""
    m = len(terms)
    if threshold == 0 or threshold > m:
        return int((threshold == 0) != invert)
    count = code.popcount(terms, m.bit_length())
    ge = code.ge_const(count, threshold)
    return code.not_(ge) if invert else ge


def _threshold_loop(layer: ThresholdLayer, ctx: _Context, inputs: list[int]) -> list[int]:
    """The layer as tables and one loop (``templates/threshold_layer.c``)."""
    first = ctx.new(layer.out_width)
    connected = layer.weights != 0  # (N, F)
    sig = np.asarray(inputs, np.int64)[layer.inputs]  # (N, F) global signals
    entries = (sig << 1 | (layer.weights < 0))[connected]  # row-major: neuron by neuron
    starts = np.concatenate([[0], np.cumsum(connected.sum(axis=1))])
    prefix = f"lutnn_t{first}"
    definition = render(
        "threshold_layer.c", comment=f"{layer.name} ({layer.fan_in} inputs per neuron)",
        count=layer.out_width, count_plus_one=layer.out_width + 1, nnz=max(1, entries.size),
        prefix=prefix, first=first, inputs=", ".join(map(str, entries.tolist() or [0])),
        starts=", ".join(map(str, starts.tolist())),
        thresholds=", ".join(map(str, layer.thresholds.tolist())),
        inverts=", ".join(str(int(v)) for v in layer.invert.tolist()))
    ctx.function(definition, render("raw_call", prefix=prefix))
    return list(range(first, first + layer.out_width))


@BLOCKS.register(ThresholdLayer)
def _threshold_layer(layer: ThresholdLayer, ctx: _Context, inputs: list[int]) -> list[int]:
    """Straight-line popcounts with constant thresholds, or, for a layer of more than
    :data:`THRESHOLD_LOOP_CONNECTIONS` connections, tables and a loop."""
    if int((layer.weights != 0).sum()) > THRESHOLD_LOOP_CONNECTIONS:
        return _threshold_loop(layer, ctx, inputs)
    outputs = []
    for n in range(layer.out_width):
        code = Code()
        terms = []
        for i, w in zip(layer.inputs[n].tolist(), layer.weights[n].tolist(), strict=True):
            if w:  # XNOR with the weight bit: the input, or its complement
                x = signal(inputs[i])
                terms.append(x if w > 0 else code.not_(x))
        word = _threshold_word(code, terms, int(layer.thresholds[n]), bool(layer.invert[n]))
        outputs.append(ctx.store_all(f"{layer.name}[{n}]: XNOR popcount >= "
                                     f"{int(layer.thresholds[n])}", code, [word]))
    return outputs


@BLOCKS.register(OrLayer)
def _or_layer(layer: OrLayer, ctx: _Context, inputs: list[int]) -> list[int]:
    outputs = []
    for n in range(layer.out_width):
        code = Code()
        word: Word = 0
        for i in layer.inputs[n].tolist():
            word = code.or_(word, signal(inputs[i]))
        outputs.append(ctx.store_all(f"{layer.name}[{n}]: OR", code, [word]))
    return outputs


def _term(term, words: list[Word], code: Code) -> Word:
    if term is None:
        return 0
    sig, inverted = term
    return code.not_(words[sig]) if inverted else words[sig]


@OPS.register(LutOp)
def _lut_op(op: LutOp, code: Code, words: list[Word]) -> list[Word]:
    sigs, table = minimize_lut([words[i] for i in op.inputs], op.table)
    if not sigs:
        return [int(table[0])]
    return [code.lut(sigs, table)]


@OPS.register(AddOp)
def _add_op(op: AddOp, code: Code, words: list[Word]) -> list[Word]:
    return code.add([[_term(t, words, code) for t in row] for row in op.rows])


@OPS.register(CompareOp)
def _compare_op(op: CompareOp, code: Code, words: list[Word]) -> list[Word]:
    ge = code.ge_const(words[op.value:op.value + op.width], op.threshold)
    return [code.not_(ge) if op.invert else ge]


def _logic(name: str, ops: tuple, ctx: _Context, inputs: list[int]) -> list[Word]:
    """Each op of a lowered node in order; returns every local signal as a word."""
    words: list[Word] = _signals(inputs)
    for i, op in enumerate(ops):
        code = Code()
        out = OPS(op, code, words)
        if isinstance(op, LutOp) and (isinstance(out[0], int) or out[0] in words):
            words += out  # a constant or a wire: no code
            continue
        first = ctx.store_all(f"{name} op {i}: {type(op).__name__}", code, out)
        words += _signals(range(first, first + len(out)))
    return words


def _signal_of(word: Word, ctx: _Context, comment: str) -> int:
    """The signal holding ``word`` (a constant gets one)."""
    if isinstance(word, int):
        return ctx.store_all(comment, Code(), [word])
    return int(word[2:-1])  # "s[17]"


@BLOCKS.register(LogicLayer)
def _logic_layer(layer: LogicLayer, ctx: _Context, inputs: list[int]) -> list[int]:
    words = _logic(layer.name, layer.ops, ctx, inputs)
    return [_signal_of(words[o], ctx, f"{layer.name}: constant output {n}")
            for n, o in enumerate(layer.outputs.tolist())]


@BLOCKS.register(GroupSumHead)
def _group_sum(head: GroupSumHead, ctx: _Context, inputs: list[int]) -> tuple[list[int], int]:
    g, width = head.group_size, head.group_size.bit_length()
    firsts = []
    for c in range(head.num_classes):
        code = Code()
        bits = code.popcount(_signals(inputs[c * g:(c + 1) * g]), width)
        firsts.append(ctx.store_all(f"{head.name}: score of class {c}", code, bits))
    return firsts, width


@BLOCKS.register(LoweredHead)
def _lowered_head(head: LoweredHead, ctx: _Context, inputs: list[int]) -> tuple[list[int], int]:
    words = _logic(head.name, head.ops, ctx, inputs)
    firsts = []
    for c, first in enumerate(head.scores.tolist()):  # consecutive signals, one per score bit
        code = Code()
        bits = words[first:first + head.score_width]
        firsts.append(ctx.store_all(f"{head.name}: score of class {c}", code, bits))
    return firsts, head.score_width


def _argmax(ctx: _Context, firsts: list[int], width: int, name: str) -> tuple[int, int]:
    """The class index of the largest score (lowest index on ties) as bit-sliced words, by a
    tree of pairwise compares; returns (its first signal, its bits)."""
    code = Code()
    class_bits = max(1, (len(firsts) - 1).bit_length())
    level = [(_signals(range(f, f + width)), [(c >> b) & 1 for b in range(class_bits)])
             for c, f in enumerate(firsts)]  # (score words, class words)
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (sa, ca), (sb, cb) = level[i], level[i + 1]
            take = code.greater(sb, sa)  # the higher index wins only when strictly greater
            nxt.append(([code.mux(take, a, b) for a, b in zip(sa, sb, strict=True)],
                        [code.mux(take, a, b) for a, b in zip(ca, cb, strict=True)]))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return ctx.store_all(f"{name}: argmax", code, level[0][1]), class_bits


def _input_encoder(netlist: Netlist) -> tuple:
    """``(encoder, header text on the input layout)``; a netlist without an encoder reads its
    input bits as bytes (bit = byte >= 1)."""
    enc = netlist.encoder
    if enc is None:
        enc = InputEncoder("inputs", 1, netlist.input_bits, np.array([1], np.int16))
        return enc, render("input_doc_bits")
    if isinstance(enc, FeatureEncoder):
        return enc, render("input_doc_features", features=enc.features, width=enc.width)
    if isinstance(enc, BitplaneEncoder):
        return enc, render("input_doc_planes", channels=enc.channels,
                           hw=enc.pixels // enc.channels, planes=enc.planes)
    return enc, render("input_doc_pixels", channels=enc.channels,
                       hw=enc.pixels // enc.channels,
                       thresholds=", ".join(map(str, enc.thresholds.tolist())))


def _head_code(head, ctx: _Context, sigs: list[int]) -> tuple[list[str], list[str], tuple]:
    """``(signal tables and defines, output writers, (classify body, scores body))``: the
    output bits' table, and with a head its scores and argmax emitted into ``ctx``."""
    tables = [render("sig_table", name="lutnn_out_sig", count=max(1, len(sigs)),
                     values=", ".join(map(str, sigs or [0])))]
    write = [render("write_bits")]
    if head is None:
        return tables, write, (render("body_no_head_classify"), render("body_no_head_scores"))
    firsts, width = BLOCKS(head, ctx, sigs)
    cls_first, class_bits = _argmax(ctx, firsts, width, head.name)
    tables += [render("sig_table", name="lutnn_score_sig", count=len(firsts),
                      values=", ".join(map(str, firsts))),
               render("define", name="LUTNN_SCORE_BITS", value=width),
               render("define", name="LUTNN_CLASS_BITS", value=class_bits),
               render("define", name="LUTNN_CLASS_SIG", value=cls_first)]
    write.append(render("write_head"))
    return tables, write, (render("body_head_classify"), render("body_head_scores"))


def _unit_parts(ctx: _Context) -> tuple[list[str], list[str]]:
    """``(function definitions, their calls in order)``: one C function per emitted unit."""
    parts, calls = [], []
    for i, unit in enumerate(ctx.units):
        if unit.definition:
            parts.append(unit.definition)
            calls.append(unit.call)
            continue
        parts += [render("part_open", index=i, comment=unit.comment), *unit.lines,
                  render("part_close")]
        calls.append(render("part_call", index=i))
    return parts, calls


def emit_c(netlist: Netlist, *, word: int = 64, name: str = "lutnn") -> CSource:
    """The bit-sliced C source and header for ``netlist``.

    Args:
        netlist: a valid netlist, unlowered or lowered.
        word: samples per word, 64 (``uint64_t``) or 256 (a 32-byte vector: AVX2).
        name: base name of the files; the header is included as ``<name>.h``.

    Returns:
        a :class:`CSource`.

    Example:
        >>> import numpy as np
        >>> from lutnn.ir import GroupSumHead, InputEncoder, Netlist
        >>> enc = InputEncoder("enc", 1, 2, np.array([128], np.int16))
        >>> src = emit_c(Netlist(2, (), encoder=enc, head=GroupSumHead("head", 2, 2)))
        >>> "int lutnn_classify(" in src.header, src.num_classes
        (True, 2)
    """
    netlist.validate()
    if word not in WORDS:
        raise LutnnError(f"--word must be one of {', '.join(map(str, WORDS))}, got {word}")
    if netlist.head is not None and netlist.head.num_classes > MAX_CLASSES:
        raise LutnnError(f"the C backend writes classes as uint8: at most {MAX_CLASSES} "
                         f"classes, the head has {netlist.head.num_classes}")
    enc, input_doc = _input_encoder(netlist)
    ctx = _Context()
    sigs, encoder_code = BLOCKS(enc, ctx, None)
    for layer in netlist.layers:
        sigs = BLOCKS(layer, ctx, sigs)
    head = netlist.head
    tables, write, bodies = _head_code(head, ctx, sigs)
    parts, calls = _unit_parts(ctx)
    summary = _summary(netlist, word)
    model = str(netlist.meta.get("model", "netlist")).replace("*/", "* /").replace('"', "'")
    num_classes = head.num_classes if head is not None else 0
    header = render("header.h", name=name, model=model, summary=summary, input_doc=input_doc,
                    guard=f"{name.upper()}_H", inputs=enc.in_width, num_classes=num_classes,
                    output_bits=len(sigs), word_bits=word)
    source = "\n".join([
        render("prelude.c", name=name, model=model, summary=summary, signals=max(1, ctx.free),
               word=render(f"word{word}.c")),
        *parts,
        render("entry.c", encoder=encoder_code, calls="\n".join(calls), tables="\n".join(tables),
               write="\n".join(write), classify_body=bodies[0], scores_body=bodies[1]),
    ]) + "\n"
    header += "\n"
    return CSource(name, source, header, word, enc.in_width, num_classes, len(sigs),
                   max(1, ctx.free), source_digest(source, header))


def source_digest(source: str, header: str) -> str:
    """The :attr:`CSource.digest` of a source and a header text (the header as written, its
    final newline not hashed): what names a compiled library."""
    return hashlib.sha256((source + "\0" + header.removesuffix("\n")).encode()).hexdigest()


def _summary(netlist: Netlist, word: int) -> str:
    kinds = [type(layer).__name__ for layer in netlist.layers]
    return (f"{len(kinds)} layer(s) ({', '.join(kinds) or 'none'}), "
            f"{netlist.output_bits} output bits, {word} samples per word.")
