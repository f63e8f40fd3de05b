/* prepare_char.c -- `prepare` with the character tokenizer: nanoGPT's
 * data/shakespeare_char/prepare.py (vocabulary = the sorted distinct characters, the first 90%
 * of the text for train.bin, the rest for val.bin, meta.json). */
#include "app/prepare.h"
#include "formats/chartok.h"
#include "formats/dataset.h"
#include "base/progress.h"
#include "base/util.h"
#include <stdio.h>
#include <string.h>

int ng_prepare_char(const char *input_path, const char *out_dir, int verbose) {
    size_t n_bytes;
    char *text = ng_read_file(input_path, &n_bytes);
    if (!text) return -1;
    if (n_bytes == 0) { free(text); return ng_fail("%s: empty file, nothing to prepare", input_path); }

    NgCharTokenizer tok;
    uint16_t *ids = NULL;
    size_t n = 0;
    int rc = -1;
    char *json = NULL;
    NgDatasetWriter *out = NULL;
    char c1[32], c2[32];
    NgProgress prog;                 /* on a terminal: which stage, how long so far */
    ng_progress_init(&prog, stdout);
    if (!verbose) prog.tty = 0;
    ng_progress_show(&prog, 1, "prepare: building the vocabulary of %.1f MB", n_bytes / 1e6);
    if (ng_chartok_build(&tok, text, n_bytes, input_path) != 0) { ng_progress_clear(&prog); free(text); return -1; }
    if (tok.vocab_size > 65536) {
        ng_fail("%s: %d distinct characters, more than the 65536 that uint16 token ids can hold",
                input_path, tok.vocab_size);
        goto done;
    }
    ng_progress_show(&prog, 1, "prepare: encoding %.1f MB", n_bytes / 1e6);
    if (ng_chartok_encode_u16(&tok, text, n_bytes, &ids, &n) != 0) goto done;
    ng_progress_clear(&prog);

    if (verbose) {
        printf("length of dataset in characters: %s\n", ng_with_commas(n, c1, sizeof c1));
        printf("all the unique characters: ");
        for (int i = 0; i < tok.vocab_size; i++) {
            const char *s = tok.itos[i];
            fwrite(s, 1, tok.cps[i] == 0 ? 1 : strlen(s), stdout);
        }
        printf("\nvocab size: %s\n", ng_with_commas((size_t)tok.vocab_size, c1, sizeof c1));
    }

    /* split by characters, like slicing the Python str: train = data[:int(n*0.9)] */
    size_t n_train = (size_t)((double)n * 0.9);
    size_t n_val = n - n_train;
    if (verbose) {
        printf("train has %s tokens\n", ng_with_commas(n_train, c1, sizeof c1));
        printf("val has %s tokens\n", ng_with_commas(n_val, c2, sizeof c2));
        fflush(stdout);
    }

    /* train.bin, val.bin and meta.json (which records them) written completely, then renamed
     * into place together: a prepare stopped before that leaves the previous dataset as it was */
    if (!(out = ng_malloc(sizeof *out, "prepare"))) goto done;
    if (ng_dataset_writer_open(out, out_dir) != 0) goto done;
    if (!(json = ng_chartok_meta_json(&tok, NULL))) { ng_fail("%s: out of memory", out_dir); goto done; }
    ng_progress_show(&prog, 1, "prepare: writing %s", out_dir);
    if (ng_dataset_append_u16(out, 0, ids, n_train) != 0 || ng_dataset_append_u16(out, 1, ids + n_train, n_val) != 0) goto done;
    if (ng_dataset_commit(out, json) != 0) goto done;
    rc = 0;
done:
    ng_progress_clear(&prog);
    if (out) ng_dataset_writer_close(out);
    free(out);
    free(json);
    free(ids);
    free(text);
    ng_chartok_free(&tok);
    return rc;
}
