/* fuzz_llmc.c -- libFuzzer target for the llm.c model file reader (ng_llmc_parse).
 *
 * Every input is parsed as a whole file image, with block_size 0 (the file's) and 1 (cropped).
 * A rejection must be one line naming the input and leave the model empty; an accepted model
 * must agree with the header (sizes, bias, tanh GELU) and every parameter is read, so that
 * AddressSanitizer catches anything copied from outside the buffer. Any violation aborts.
 * Build and run with `make fuzz-run`. */
#include "nanogpt.h"
#include "persistence/import.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(const uint8_t *buf, size_t size, int block_size) {
    NgModel m;
    if (ng_llmc_parse(buf, size, "fuzz", &m, block_size) != 0) {
        const char *msg = ng_errmsg();
        if (strncmp(msg, "fuzz: ", 6) != 0 || strchr(msg, '\n')) abort();   /* one line, named */
        if (m.params || m.tensors || m.num_params) abort();                  /* nothing kept */
        return;
    }
    int32_t h[8];
    if (size < 1024) abort();
    memcpy(h, buf, sizeof h);
    const NgModelArgs *a = &m.args;
    if (h[0] != 20240326 || (h[1] != 3 && h[1] != 5)) abort();
    if (a->vocab_size != h[3] || a->n_layer != h[4] || a->n_head != h[5] || a->n_embd != h[6]) abort();
    if (a->block_size != (block_size ? block_size : h[2]) || !a->bias || !a->gelu_tanh) abort();
    size_t C = (size_t)a->n_embd, file_numel = (size - 1024) / (h[1] == 3 ? 4 : 2);
    size_t want = (size_t)a->vocab_size * C + (size_t)a->block_size * C + (size_t)a->n_layer * (12 * C * C + 13 * C) + 2 * C;
    if (m.num_params != want || m.num_params > file_numel) abort();
    volatile float sink = 0;
    for (size_t i = 0; i < m.num_params; i++) sink += m.params[i];
    (void)sink;
    ng_model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);                 /* exact-size copy for ASan */
    if (!buf) return 0;
    memcpy(buf, data, size);
    check(buf, size, 0);
    check(buf, size, 1);
    free(buf);
    return 0;
}
