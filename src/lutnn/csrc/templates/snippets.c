//@ not
(~{{a}})
//@ and
({{a}} & {{b}})
//@ andn
({{a}} & ~{{b}})
//@ or
({{a}} | {{b}})
//@ orn
({{a}} | ~{{b}})
//@ xor
({{a}} ^ {{b}})
//@ mux
({{lo}} ^ (({{lo}} ^ {{hi}}) & {{x}}))
//@ zero
LUTNN_W0
//@ one
LUTNN_W1
//@ signal
s[{{index}}]
//@ temp
    const lutnn_word {{name}} = {{expr}};
//@ store
    s[{{index}}] = {{value}};
//@ node_open
  { /* {{comment}} */
//@ node_close
  }
//@ encode_loop
  for (p = 0; p < {{count}}; p++) {
    const uint8_t *col = cols + ({{first_input}} + p) * LUTNN_WORD_BITS;
    (void)col; /* unread when every threshold of the encoder is a constant (0 or 256) */
{{body}}
  }
//@ encode_bit
    s[{{first}} + p] = lutnn_ge(col, {{threshold}});
//@ encode_plane
    s[{{first}} + p] = lutnn_bit(col, {{bit}});
//@ encode_const
    s[{{first}} + p] = {{value}};
//@ part_open
/* {{comment}} */
static LUTNN_NOINLINE void lutnn_part_{{index}}(lutnn_word *restrict s) {
//@ part_close
}
//@ part_call
  lutnn_part_{{index}}(s);
//@ sig_table
static const uint32_t {{name}}[{{count}}] = {{{values}}};
//@ define
#define {{name}} {{value}}
//@ write_bits
      if (bits)
        for (j = 0; j < LUTNN_OUTPUT_BITS; j++)
          bits[(b0 + b) * LUTNN_OUTPUT_BITS + j] =
              (uint8_t)((lutnn_lane(s[lutnn_out_sig[j]], lane) >> shift) & 1);
//@ write_head
      if (scores)
        for (j = 0; j < LUTNN_NUM_CLASSES; j++) {
          int32_t v = 0;
          int c;
          for (c = 0; c < LUTNN_SCORE_BITS; c++)
            v |= (int32_t)((lutnn_lane(s[lutnn_score_sig[j] + c], lane) >> shift) & 1) << c;
          scores[(b0 + b) * LUTNN_NUM_CLASSES + j] = v;
        }
      if (classes) {
        uint32_t v = 0;
        int c;
        for (c = 0; c < LUTNN_CLASS_BITS; c++)
          v |= (uint32_t)((lutnn_lane(s[LUTNN_CLASS_SIG + c], lane) >> shift) & 1) << c;
        classes[b0 + b] = (uint8_t)v;
      }
//@ body_head_classify
  return lutnn_run(pixels, n, NULL, classes, NULL);
//@ body_head_scores
  return lutnn_run(pixels, n, scores, classes, NULL);
//@ body_no_head_classify
  (void)pixels, (void)n, (void)classes;
  return -2;
//@ body_no_head_scores
  (void)pixels, (void)n, (void)scores, (void)classes;
  return -2;
//@ input_doc_pixels
 *   Pixel bytes in the IR's order: index c*H*W + h*W + w ({{channels}} channel(s) of {{hw}}
 *   pixels).  Encoder bit (c*T + t)*H*W + p is pixel c*H*W + p >= threshold t, thresholds
 *   {{thresholds}}.
//@ input_doc_planes
 *   Pixel bytes in the IR's order: index c*H*W + h*W + w ({{channels}} channel(s) of {{hw}}
 *   pixels).  Encoder bit (c*B + j)*H*W + p is bit 7-j of pixel c*H*W + p (its top {{planes}}
 *   bit(s), the most significant first).
//@ input_doc_bits
 *   One byte per input bit of the first layer, in its order; a nonzero byte is bit 1.
//@ encode_feature
    s[{{index}}] = lutnn_ge(cols + {{feature}} * LUTNN_WORD_BITS, {{threshold}});
//@ input_doc_features
 *   The {{features}} features as {{width}}-bit unsigned fixed-point values, one byte each, in
 *   the IR's order (lutnn's FeatureEncoder.to_fixed maps floats to them); encoder bit
 *   (c*T + t)*HW + p is feature c*HW + p >= its own threshold t.
//@ raw_call
  {{prefix}}_eval(s);
