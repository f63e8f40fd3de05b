/* prepare_char.c -- `prepare` with the character tokenizer: nanoGPT's
 * data/shakespeare_char/prepare.py (vocabulary = the sorted distinct characters, the first 90%
 * of the text for train.bin, the rest for val.bin, meta.json). */
#include "app/prepare.h"
#include "formats/chartok.h"
#include "formats/dataset.h"
#include "base/lock.h"
#include "base/progress.h"
#include "base/util.h"
#include <stdio.h>
#include <string.h>

static int write_tokens(const char *dir, const char *file, const uint16_t *ids, size_t n) {
    char path[NG_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return ng_fail("%s: path too long", dir);
    return ng_write_file_atomic(path, ids, n * sizeof(uint16_t));
}

int ng_prepare_char(const char *input_path, const char *out_dir, int verbose) {
    size_t n_bytes;
    char *text = ng_read_file(input_path, &n_bytes);
    if (!text) return -1;
    if (n_bytes == 0) { free(text); return ng_fail("%s: empty file, nothing to prepare", input_path); }

    NgCharTokenizer tok;
    uint16_t *ids = NULL;
    size_t n = 0;
    int rc = -1, lock = -1;
    char *json = NULL;
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

    /* meta.json first (it records the new .bin files), then each .bin file atomically: a
     * prepare stopped anywhere leaves files that disagree with meta.json, which train detects */
    if ((lock = ng_dataset_begin(out_dir)) < 0) goto done;
    NgFileRecord rec_train = ng_file_record(ids, n_train), rec_val = ng_file_record(ids + n_train, n_val);
    if (!(json = ng_chartok_meta_json(&tok, NULL))) { ng_fail("%s: out of memory", out_dir); goto done; }
    if (ng_dataset_write_meta(out_dir, json, &rec_train, &rec_val) != 0) goto done;
    ng_progress_show(&prog, 1, "prepare: writing %s", out_dir);
    if (write_tokens(out_dir, "train.bin", ids, n_train) != 0) goto done;
    if (write_tokens(out_dir, "val.bin", ids + n_train, n_val) != 0) goto done;
    rc = 0;
done:
    ng_progress_clear(&prog);
    ng_dir_unlock(lock);
    free(json);
    free(ids);
    free(text);
    ng_chartok_free(&tok);
    return rc;
}
