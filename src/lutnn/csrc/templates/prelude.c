/* {{name}}.c: bit-sliced C inference for the lutnn netlist "{{model}}" (generated; do not
 * edit).  API and bit order: {{name}}.h.  {{summary}} */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "{{name}}.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#define LUTNN_NOINLINE __attribute__((noinline))
#else
#define LUTNN_NOINLINE
#endif

#define LUTNN_SIGNALS {{signals}}

/* Bit b of the result: col[b] >= t, for the 64 bytes col[0..63]. */
static inline uint64_t lutnn_ge64(const uint8_t *col, uint8_t t) {
#if defined(__AVX2__)
  const __m256i tv = _mm256_set1_epi8((char)t);
  const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)col);
  const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(col + 32));
  const uint32_t ma = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(a, tv), a));
  const uint32_t mb = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(b, tv), b));
  return (uint64_t)ma | ((uint64_t)mb << 32);
#elif defined(__SSE2__)
  const __m128i tv = _mm_set1_epi8((char)t);
  uint64_t m = 0;
  int q;
  for (q = 0; q < 4; q++) {
    const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(col + 16 * q));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(a, tv), a)) << (16 * q);
  }
  return m;
#else
  uint64_t m = 0;
  int b;
  for (b = 0; b < 64; b++) m |= (uint64_t)(col[b] >= t) << b;
  return m;
#endif
}

/* Bit s of the result: bit b (0 = least significant) of col[s], for the 64 bytes
 * col[0..63]. */
static inline uint64_t lutnn_bit64(const uint8_t *col, int b) {
#if defined(__SSE2__)
  /* shifting 16-bit lanes left by 7 - b puts bit b of both bytes at their bit 7 */
  const __m128i shift = _mm_cvtsi32_si128(7 - b);
  uint64_t m = 0;
  int q;
  for (q = 0; q < 4; q++) {
    const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(col + 16 * q));
    m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_sll_epi16(a, shift)) << (16 * q);
  }
  return m;
#else
  uint64_t m = 0;
  int s;
  for (s = 0; s < 64; s++) m |= (uint64_t)((col[s] >> b) & 1) << s;
  return m;
#endif
}

{{word}}

#if defined(__SSE2__)
/* a[i] byte j -> a[j] byte i: four rounds of interleaving rows i and i + 8. */
static inline void lutnn_transpose16(__m128i *a) {
  __m128i b[16];
  int r, i;
  for (r = 0; r < 4; r++) {
    for (i = 0; i < 8; i++) {
      b[2 * i] = _mm_unpacklo_epi8(a[i], a[i + 8]);
      b[2 * i + 1] = _mm_unpackhi_epi8(a[i], a[i + 8]);
    }
    for (i = 0; i < 16; i++) a[i] = b[i];
  }
}
#endif

/* cols[p * LUTNN_WORD_BITS + b] = byte p of sample b of the block (0 past the last sample):
 * 16 x 16 byte tiles transposed in SSE2 registers, the rest byte by byte. */
static void lutnn_gather(const uint8_t *restrict px, size_t count, uint8_t *restrict cols) {
  size_t b = 0, p;
#if defined(__SSE2__)
  for (; b + 16 <= count; b += 16) {
    const uint8_t *rows = px + b * LUTNN_INPUTS;
    for (p = 0; p + 16 <= LUTNN_INPUTS; p += 16) {
      __m128i a[16];
      int i;
      for (i = 0; i < 16; i++)
        a[i] = _mm_loadu_si128((const __m128i *)(const void *)(rows + i * LUTNN_INPUTS + p));
      lutnn_transpose16(a);
      for (i = 0; i < 16; i++)
        _mm_storeu_si128((__m128i *)(void *)(cols + (p + i) * LUTNN_WORD_BITS + b), a[i]);
    }
    for (; p < LUTNN_INPUTS; p++) {
      int i;
      for (i = 0; i < 16; i++) cols[p * LUTNN_WORD_BITS + b + i] = rows[i * LUTNN_INPUTS + p];
    }
  }
#endif
  for (; b < count; b++) {
    const uint8_t *row = px + b * LUTNN_INPUTS;
    for (p = 0; p < LUTNN_INPUTS; p++) cols[p * LUTNN_WORD_BITS + b] = row[p];
  }
  if (count < LUTNN_WORD_BITS)
    for (p = 0; p < LUTNN_INPUTS; p++)
      memset(cols + p * LUTNN_WORD_BITS + count, 0, LUTNN_WORD_BITS - count);
}
