/* {{name}}.h: bit-sliced C inference for the lutnn netlist "{{model}}" (generated; do not edit).
 *
 * {{summary}}
 *
 * Inputs: `pixels` holds n samples one after another, LUTNN_INPUTS bytes each.
{{input_doc}}
 * Outputs (arrays of n rows, sample i at row i):
 *   lutnn_classify: classes[i], the class index 0..LUTNN_NUM_CLASSES-1, the argmax of the
 *     scores (the lowest index on ties);
 *   lutnn_scores: scores[i * LUTNN_NUM_CLASSES + c], class c's score (the popcount of its
 *     group of the last layer's bits: bits c*G .. c*G+G-1), and classes[i] unless NULL;
 *   lutnn_output_bits: bits[i * LUTNN_OUTPUT_BITS + j], 0 or 1, bit j of the last layer.
 * The classify and scores entry points return -2 when the netlist has no class head
 * (LUTNN_NUM_CLASSES == 0).  All return 0 on success and -1 when memory runs out.
 * Calls share no state: concurrent calls from several threads on disjoint rows are safe.
 *
 * Inside (bit-sliced): samples are processed LUTNN_WORD_BITS at a time; sample b of a block
 * is bit b % 64 of 64-bit lane b / 64 of a word, every signal of the netlist is one word, and
 * every LUT, adder and comparator is a few bitwise operations on words.  LUT address bit j is
 * the LUT's input j (address = sum_j input_j << j), as in the IR.
 */
#ifndef {{guard}}
#define {{guard}}

#include <stddef.h>
#include <stdint.h>

#define LUTNN_INPUTS {{inputs}}
#define LUTNN_NUM_CLASSES {{num_classes}}
#define LUTNN_OUTPUT_BITS {{output_bits}}
#define LUTNN_WORD_BITS {{word_bits}}

#ifdef __cplusplus
extern "C" {
#endif

int lutnn_classify(const uint8_t *pixels, size_t n, uint8_t *classes);
int lutnn_scores(const uint8_t *pixels, size_t n, int32_t *scores, uint8_t *classes);
int lutnn_output_bits(const uint8_t *pixels, size_t n, uint8_t *bits);

#ifdef __cplusplus
}
#endif

#endif
