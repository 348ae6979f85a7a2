/* One word: 64 samples in a uint64_t. */
typedef uint64_t lutnn_word;
#define LUTNN_LANES 1
#define LUTNN_W0 ((lutnn_word)0)
#define LUTNN_W1 (~(lutnn_word)0)

static inline lutnn_word lutnn_ge(const uint8_t *col, uint8_t t) { return lutnn_ge64(col, t); }
static inline lutnn_word lutnn_bit(const uint8_t *col, int b) { return lutnn_bit64(col, b); }
static inline uint64_t lutnn_lane(lutnn_word w, size_t lane) { (void)lane; return w; }
static inline lutnn_word lutnn_mask(uint32_t bit) { return (lutnn_word)0 - (lutnn_word)bit; }
