/* Every signal of one block of LUTNN_WORD_BITS samples, from the gathered input bytes. */
static void lutnn_eval(const uint8_t *restrict cols, lutnn_word *restrict s) {
  size_t p = 0;
  (void)p;
  (void)cols; /* unread when every input bit is a constant */
{{encoder}}
{{calls}}
}

{{tables}}

static int lutnn_run(const uint8_t *pixels, size_t n, int32_t *scores, uint8_t *classes,
                     uint8_t *bits) {
  size_t b0, b, j;
  void *mem = malloc(LUTNN_SIGNALS * sizeof(lutnn_word) + 64);
  uint8_t *cols = (uint8_t *)malloc((size_t)LUTNN_INPUTS * LUTNN_WORD_BITS);
  lutnn_word *s;
  (void)scores, (void)classes, (void)bits;
  if (!mem || !cols) {
    free(mem);
    free(cols);
    return -1;
  }
  s = (lutnn_word *)(void *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
  for (b0 = 0; b0 < n; b0 += LUTNN_WORD_BITS) {
    const size_t count = n - b0 < LUTNN_WORD_BITS ? n - b0 : LUTNN_WORD_BITS;
    lutnn_gather(pixels + b0 * LUTNN_INPUTS, count, cols);
    lutnn_eval(cols, s);
    for (b = 0; b < count; b++) {
      const size_t lane = b >> 6, shift = b & 63;
{{write}}
    }
  }
  (void)j;
  free(mem);
  free(cols);
  return 0;
}

int lutnn_classify(const uint8_t *pixels, size_t n, uint8_t *classes) {
{{classify_body}}
}

int lutnn_scores(const uint8_t *pixels, size_t n, int32_t *scores, uint8_t *classes) {
{{scores_body}}
}

int lutnn_output_bits(const uint8_t *pixels, size_t n, uint8_t *bits) {
  return lutnn_run(pixels, n, NULL, NULL, bits);
}
