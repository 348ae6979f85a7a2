/* One word: 256 samples in four 64-bit lanes (a GCC/Clang vector: AVX2 with -march=native,
 * pairs of SSE2 operations otherwise). */
typedef uint64_t lutnn_word __attribute__((vector_size(32)));
#define LUTNN_LANES 4
#define LUTNN_W0 ((lutnn_word){0, 0, 0, 0})
#define LUTNN_W1 (~LUTNN_W0)

static inline lutnn_word lutnn_ge(const uint8_t *col, uint8_t t) {
  const lutnn_word w = {lutnn_ge64(col, t), lutnn_ge64(col + 64, t), lutnn_ge64(col + 128, t),
                        lutnn_ge64(col + 192, t)};
  return w;
}
static inline lutnn_word lutnn_bit(const uint8_t *col, int b) {
  const lutnn_word w = {lutnn_bit64(col, b), lutnn_bit64(col + 64, b),
                        lutnn_bit64(col + 128, b), lutnn_bit64(col + 192, b)};
  return w;
}
static inline uint64_t lutnn_lane(lutnn_word w, size_t lane) { return w[lane]; }
static inline lutnn_word lutnn_mask(uint32_t bit) { return LUTNN_W0 - (uint64_t)bit; }
