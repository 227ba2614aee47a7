/* Reading a fuzzer's input as a stream of numbers: past its end every read is 0, so any input is
 * a complete case. */
#ifndef PURPLE_FUZZ_INPUT_H
#define PURPLE_FUZZ_INPUT_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_in {
	const uint8_t *p;
	size_t n, at;
};

static inline uint64_t fin_bytes(struct fuzz_in *in, unsigned k)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < k; i++)
		v |= (uint64_t)(in->at < in->n ? in->p[in->at++] : 0) << (8 * i);
	return v;
}
static inline uint8_t fin_u8(struct fuzz_in *in) { return (uint8_t)fin_bytes(in, 1); }
static inline uint16_t fin_u16(struct fuzz_in *in) { return (uint16_t)fin_bytes(in, 2); }
static inline uint32_t fin_u32(struct fuzz_in *in) { return (uint32_t)fin_bytes(in, 4); }
static inline uint64_t fin_u64(struct fuzz_in *in) { return fin_bytes(in, 8); }
static inline size_t fin_left(const struct fuzz_in *in) { return in->n - in->at; }
/* up to max bytes into dst; the count copied */
static inline size_t fin_copy(struct fuzz_in *in, void *dst, size_t max)
{
	size_t k = fin_left(in) < max ? fin_left(in) : max;

	memcpy(dst, in->p + in->at, k);
	in->at += k;
	return k;
}
#endif
