/* fuzz_safetensors.c -- libFuzzer target for the safetensors reader (ng_st_parse).
 *
 * Every input is parsed as a whole file image. When it is accepted, the result is checked
 * against the reader's promises (each tensor inside the data section with exactly
 * numel * dtype_size bytes, names findable, metadata strings) and every data byte is read,
 * so that AddressSanitizer catches any offset that escapes the buffer. Any violation
 * aborts. Build and run with `make fuzz-run`. */
#include "nanogpt.h"
#include "formats/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);                 /* exact-size copy for ASan */
    if (!buf) return 0;
    memcpy(buf, data, size);
    NgStFile f;
    if (ng_st_parse(&f, buf, size, "fuzz") != 0) {
        const char *msg = ng_errmsg();
        if (strncmp(msg, "fuzz: ", 6) != 0 || strchr(msg, '\n')) abort();  /* one line, named */
        if (f.tensors || f.n_tensors || f.meta_keys || f.n_meta) abort();  /* nothing kept */
        free(buf);
        return 0;
    }
    if (f.data < buf + 8 || f.data + f.data_size != buf + size) abort();
    volatile uint8_t sink = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const NgStTensor *t = &f.tensors[i];
        if (!t->name || t->ndim < 0 || t->ndim > 8 || t->begin > t->end || t->end > f.data_size) abort();
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) abort();
            numel *= (uint64_t)t->shape[d];
        }
        if (t->end - t->begin != numel * ng_dtype_size(t->dtype) || ng_dtype_size(t->dtype) == 0) abort();
        if (ng_st_find(&f, t->name) != t) abort();           /* names are unique */
        for (uint64_t k = t->begin; k < t->end; k++) sink ^= f.data[k];
    }
    for (int i = 0; i < f.n_tensors && f.n_tensors <= 2000; i++)    /* no shared bytes */
        for (int j = i + 1; j < f.n_tensors; j++) {
            const NgStTensor *a = &f.tensors[i], *b = &f.tensors[j];
            if (a->begin < a->end && b->begin < b->end && a->begin < b->end && b->begin < a->end) abort();
        }
    for (int i = 0; i < f.n_meta; i++)
        if (ng_st_meta(&f, f.meta_keys[i]) != f.meta_vals[i]) abort();
    (void)sink;
    ng_st_close(&f);
    ng_st_close(&f);                                         /* closing twice is safe */
    free(buf);
    return 0;
}
