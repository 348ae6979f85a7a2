/* {{comment}}: {{count}} XNOR-popcount-threshold neurons from tables, one loop (big layers
 * as straight-line code would be millions of lines).  in: signal << 1 | (weight < 0), the
 * connected inputs of neuron n at start[n] .. start[n+1]-1; out: signal {{first}} + n. */
static const uint32_t {{prefix}}_in[{{nnz}}] = {{{inputs}}};
static const uint32_t {{prefix}}_start[{{count_plus_one}}] = {{{starts}}};
static const uint32_t {{prefix}}_thr[{{count}}] = {{{thresholds}}};
static const uint8_t {{prefix}}_inv[{{count}}] = {{{inverts}}};

static LUTNN_NOINLINE void {{prefix}}_eval(lutnn_word *restrict s) {
  size_t n, j;
  for (n = 0; n < {{count}}; n++) {
    /* Carry-save accumulator: level l holds acc[l] and, where bit l of `have` is set, one
     * pending bit pend[l], both of weight 2**l; a second pending bit makes a full adder whose
     * carry moves up a level. */
    lutnn_word acc[33], pend[33], r = LUTNN_W1, carry = LUTNN_W0;
    uint64_t have = 0;
    int l, top = 0;
    const uint32_t thr = {{prefix}}_thr[n];
    for (l = 0; l < 33; l++) acc[l] = pend[l] = LUTNN_W0;
    for (j = {{prefix}}_start[n]; j < {{prefix}}_start[n + 1]; j++) {
      const uint32_t e = {{prefix}}_in[j];
      lutnn_word x = s[e >> 1] ^ lutnn_mask(e & 1);
      for (l = 0;; l++) {
        if (!((have >> l) & 1)) {
          pend[l] = x;
          have |= (uint64_t)1 << l;
          break;
        }
        {
          const lutnn_word t = acc[l] ^ pend[l];
          const lutnn_word c = (acc[l] & pend[l]) | (x & t);
          acc[l] = t ^ x;
          x = c;
        }
        have &= ~((uint64_t)1 << l);
      }
      if (l > top) top = l;
    }
    /* count = acc + pend (ripple), then count >= thr from bit 0 up: an AND where thr has a
     * 1, an OR where it has a 0. */
    for (l = 0; l <= top + 1; l++) {
      const lutnn_word a = acc[l], b = ((have >> l) & 1) ? pend[l] : LUTNN_W0;
      const lutnn_word t = a ^ b, bit = t ^ carry;
      carry = (a & b) | (carry & t);
      r = ((thr >> l) & 1) ? (bit & r) : (bit | r);
    }
    if (thr >> (top + 2)) r = LUTNN_W0; /* above every count the bits can hold */
    s[{{first}} + n] = {{prefix}}_inv[n] ? ~r : r;
  }
}
