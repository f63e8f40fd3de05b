/* sample.c -- nanoGPT's sample.py: generate text from the checkpoint in out_dir (or from
 * pretrained weights), every sample of a batch advanced together through NgDecoder, each
 * token drawn as ng_sample_token_p (src/model/generate.c) draws it, the text streamed. */
#include "base/utf8.h"
#include "app/run.h"
#include "app/sample.h"
#include "formats/bpe.h"
#include "base/util.h"
#include "model/model.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- sequences drawn token by token (sample.h) ---- */

int ng_seq_init(NgSeq *s, const NgSampleParams *p, const int *prompt, size_t n_prompt, int max_new, uint64_t seed, int slot) {
    memset(s, 0, sizeof *s);
    s->p = p; s->max_new = max_new; s->slot = slot; s->n_prompt = s->len = n_prompt;
    if (n_prompt == 0) return ng_fail("generate: empty prompt");
    s->ids = ng_malloc(sizeof(int) * (n_prompt + (size_t)max_new), "the generated tokens");
    if (!s->ids) return -1;
    memcpy(s->ids, prompt, sizeof(int) * n_prompt);
    ng_rng_seed(&s->rng, seed);
    ng_str_append(&s->text, "", 0);
    if (max_new == 0) s->finish = NG_FINISH_LENGTH;
    return 0;
}

void ng_seq_free(NgSeq *s) {
    free(s->ids); free(s->text.s);
    memset(s, 0, sizeof *s);
}

/* the token drawn for s from logits: appended, its text too; ends s at a stop string, at
 * <|endoftext|> (stop_at_eos) or after max_new tokens */
static void seq_take(NgSeq *s, const NgTokenizer *tok, const float *logits, float *scratch) {
    const NgSampleParams *p = s->p;
    int Vs = tok->vocab_size, top_k = p->top_k < Vs ? p->top_k : Vs;   /* the padding ids are never drawn */
    int id = ng_sample_token_p(logits, Vs, p->temperature, top_k, p->top_p, &s->rng, scratch);
    s->ids[s->len++] = id;
    s->n_new++;
    if (p->stop_at_eos && tok->kind == NG_TOK_GPT2 && id == NG_GPT2_EOT) { s->end = s->text.len; s->finish = NG_FINISH_STOP; return; }
    size_t n;
    char *piece = ng_tokenizer_decode(tok, &id, 1, &n);
    if (piece) ng_str_append(&s->text, piece, n);
    free(piece);
    /* the first stop string that ends in the new text (earliest start wins) */
    size_t best = (size_t)-1;
    for (int k = 0; k < p->n_stops; k++) {
        size_t L = strlen(p->stops[k]);
        if (L == 0 || L > s->text.len) continue;
        size_t from = s->searched + 1 > L ? s->searched + 1 - L : 0;
        const char *hit = memmem(s->text.s + from, s->text.len - from, p->stops[k], L);
        if (hit && (size_t)(hit - s->text.s) < best) best = (size_t)(hit - s->text.s);
    }
    s->searched = s->text.len;
    if (best != (size_t)-1) { s->end = best; s->finish = NG_FINISH_STOP; }
    else if (s->n_new >= s->max_new) s->finish = NG_FINISH_LENGTH;
}

size_t ng_seq_ready(const NgSeq *s) {
    if (s->finish == NG_FINISH_STOP) return s->end;
    if (s->finish) return s->text.len;
    size_t r = s->text.len, hold = 0;
    for (int k = 0; k < s->p->n_stops; k++) {   /* the longest end of the text that starts a stop string */
        size_t L = strlen(s->p->stops[k]);
        if (L == 0) continue;
        for (size_t h = L - 1 < r ? L - 1 : r; h > hold; h--)
            if (!memcmp(s->text.s + r - h, s->p->stops[k], h)) { hold = h; break; }
    }
    r = r > hold ? r - hold : 0;
    /* not part of a UTF-8 character: back to the lead byte of an incomplete one */
    const unsigned char *t = (const unsigned char *)s->text.s;
    for (size_t q = r, back = 0; q > 0 && back < 4; back++) {
        unsigned char c = t[--q];
        if ((c & 0xC0) == 0x80) continue;        /* continuation byte */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (q + need > r && c >= 0xC0 && c < 0xF8) r = q;
        break;
    }
    return r > s->sent ? r : s->sent;
}

int ng_seqs_step(NgModel *m, NgDecoder *d, const NgTokenizer *tok, NgSeq **seqs, int n, float *scratch) {
    int block = m->args.block_size, nb = 0;
    int *slots = ng_malloc(sizeof(int) * 2 * (size_t)(n > 0 ? n : 1), "a decode step");
    if (!slots) return -1;
    int *tokens = slots + n, rc = 0;
    const NgSeq *prefilled = NULL;                /* the last prefill, its logits still in row 0 */
    for (int i = 0; i < n && rc == 0; i++) {
        NgSeq *s = seqs[i];
        if (s->finish) continue;
        int cached = ng_decoder_len(d, s->slot);
        if (s->len == s->n_prompt) {              /* first token: the prompt, from position 0 */
            int fits = s->len <= (size_t)block;
            const int *w = fits ? s->ids : s->ids + s->len - block;
            int wn = fits ? (int)s->len : block;
            if (prefilled && prefilled->len == s->len && !memcmp(prefilled->ids, s->ids, sizeof(int) * s->len))
                rc = ng_decoder_copy(d, prefilled->slot, s->slot);
            else if ((rc = ng_decoder_prefill(m, d, s->slot, w, wn)) == 0) prefilled = s;
            if (rc == 0) seq_take(s, tok, ng_decoder_logits(d, 0), scratch);
        } else if (s->len > (size_t)block || cached != (int)s->len - 1) {
            /* past the block every position moved: the whole cropped window again */
            size_t from = s->len > (size_t)block ? s->len - block : 0;
            prefilled = NULL;
            if ((rc = ng_decoder_prefill(m, d, s->slot, s->ids + from, (int)(s->len - from))) == 0)
                seq_take(s, tok, ng_decoder_logits(d, 0), scratch);
        } else {
            slots[nb] = s->slot; tokens[nb] = s->ids[s->len - 1]; nb++;
        }
    }
    if (rc == 0 && nb > 0 && (rc = ng_model_decode_batch(m, d, nb, slots, tokens)) == 0)
        for (int i = 0, k = 0; i < n; i++)
            if (k < nb && !seqs[i]->finish && seqs[i]->slot == slots[k]) { seq_take(seqs[i], tok, ng_decoder_logits(d, k), scratch); k++; }
    free(slots);
    return rc;
}

char *ng_unescape(const char *s) {
    char *o = ng_malloc(strlen(s) + 1, "a stop string"), *p = o;
    if (!o) return NULL;
    for (; *s; s++) {
        if (*s == '\\' && s[1] && strchr("ntr\\\"'", s[1])) {
            s++;
            *p++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
        } else *p++ = *s;
    }
    *p = 0;
    return o;
}

int ng_decoder_budget(const NgModel *m, int want) {
    const NgModelArgs *a = &m->args;
    double per = a->model_type == NG_MODEL_GPT ? 8.0 * a->n_layer * a->block_size * a->n_embd : 1.0;  /* KV bytes */
    int fit = (int)(2.0e9 / per);                /* 2 GB of KV caches */
    fit = fit < 1 ? 1 : fit;
    return want < fit ? want : fit;
}

/* the prompt: the start text, or the contents of FILE:path */
char *ng_read_start(const char *start, size_t *n) {
    if (strncmp(start, "FILE:", 5) == 0) return ng_read_file(start + 5, n);
    char *s = ng_malloc(strlen(start) + 1, "the prompt");
    if (s) { strcpy(s, start); *n = strlen(s); }
    return s;
}

static int put(FILE *out, const char *b, size_t n) {
    if (n && fwrite(b, 1, n, out) != n) return ng_fail("stdout: write failed: %s", strerror(errno));
    return 0;
}

/* Prints the samples of one batch in order as they grow: the first unfinished one streams,
 * those after it wait in their buffers until it has ended. */
static int print_ready(FILE *out, NgSeq *seqs, int n, int *cur, int *prompt_done, const char *ptext, size_t np) {
    while (*cur < n) {
        NgSeq *s = &seqs[*cur];
        if (!*prompt_done && put(out, ptext, np) != 0) return -1;
        *prompt_done = 1;
        size_t r = ng_seq_ready(s);
        if (put(out, s->text.s + s->sent, r - s->sent) != 0) return -1;
        s->sent = r;
        if (!s->finish) break;
        if (put(out, "\n---------------\n", 17) != 0) return -1;
        ++*cur; *prompt_done = 0;
    }
    if (fflush(out) != 0 || ferror(out)) return ng_fail("stdout: write failed: %s", strerror(errno));
    return 0;
}

int ng_sample(const NgConfig *cfg, FILE *out) {
    NgModel m;
    NgTokenizer tok;
    NgConfig saved;
    if (ng_load_for_inference(cfg, &m, &saved, &tok) != 0) return -1;
    /* temperature and top_k not given here: the training config's (its defaults unless it set
     * them, as config/train_lecture_gpt.conf does for the lecture's full softmax) */
    float temperature = ng_config_was_set(cfg, "temperature") ? cfg->temperature : saved.temperature;
    int top_k = ng_config_was_set(cfg, "top_k") ? cfg->top_k : saved.top_k;
    int rc = -1, group = 0;
    int *prompt = NULL;
    char *text = NULL, *ptext = NULL;
    float *scratch = NULL;
    NgDecoder *d = NULL;
    NgSeq *seqs = NULL;
    NgSeq **order = NULL;
    size_t n_text = 0, n_prompt = 0, np = 0;
    NgSampleParams p = {temperature, cfg->top_p, top_k, cfg->stop_at_eos, {NULL}, 0};
    if (cfg->stop[0]) { if (!(p.stops[0] = ng_unescape(cfg->stop))) goto done; p.n_stops = 1; }
    if (ng_config_was_set(cfg, "block_size") && cfg->block_size > m.args.block_size) {   /* as eval */
        ng_fail("%s/ckpt.safetensors: block_size %d is larger than the checkpoint's %d", cfg->out_dir, cfg->block_size, m.args.block_size);
        goto done;
    }
    /* a smaller block_size crops the context (nanoGPT's crop_block_size: positions past it unused) */
    if (ng_config_was_set(cfg, "block_size")) m.args.block_size = cfg->block_size;
    NgConfig c = *cfg;                             /* the model keys validated are the checkpoint's */
    ng_config_model_keys(&c, &m.args);
    if (ng_config_validate(&c) != 0 || ng_model_check_memory(&m.args, 1, m.args.block_size, 0, 1) != 0) goto done;
    if (tok.kind == NG_TOK_NONE) {
        ng_fail("%s/ckpt.safetensors: the checkpoint has no vocabulary (meta) to encode the prompt with", cfg->out_dir);
        goto done;
    }
    if (!(text = ng_read_start(cfg->start, &n_text))) goto done;
    if (n_text == 0) { ng_fail("start: the prompt is empty"); goto done; }
    if (ng_utf8_count(text, n_text, "start") < 0) goto done;
    if (ng_tokenizer_encode(&tok, text, n_text, &prompt, &n_prompt) != 0) { ng_fail("start: %s", ng_errmsg()); goto done; }
    if (!(ptext = ng_tokenizer_decode(&tok, prompt, n_prompt, &np))) goto done;
    /* every sample in one batch (as many as 2 GB of KV caches hold); sample s draws from the
     * stream of seed + s, so it is the sample of --seed=seed+s --num_samples=1 */
    group = ng_decoder_budget(&m, cfg->num_samples > 0 ? cfg->num_samples : 1);
    scratch = ng_malloc(sizeof(float) * 2 * (size_t)m.args.vocab_size, "sampling scratch");
    seqs = ng_calloc((size_t)group, sizeof(NgSeq), "the samples");
    order = ng_calloc((size_t)group, sizeof(NgSeq *), "the samples");
    if (!scratch || !seqs || !order || !(d = ng_decoder_new(&m, group))) goto done;
    for (int g0 = 0; g0 < cfg->num_samples; g0 += group) {
        int gn = cfg->num_samples - g0 < group ? cfg->num_samples - g0 : group, cur = 0, prompt_done = 0, left = 1;
        for (int i = 0; i < gn; i++) {
            order[i] = &seqs[i];
            if (ng_seq_init(&seqs[i], &p, prompt, n_prompt, cfg->max_new_tokens, (uint64_t)cfg->seed + (uint64_t)(g0 + i), i) != 0) goto done;
        }
        while (left) {
            if (ng_seqs_step(&m, d, &tok, order, gn, scratch) != 0) goto done;
            if (print_ready(out, seqs, gn, &cur, &prompt_done, ptext, np) != 0) goto done;
            left = 0;
            for (int i = 0; i < gn; i++) left |= !seqs[i].finish;
        }
        if (print_ready(out, seqs, gn, &cur, &prompt_done, ptext, np) != 0) goto done;
        for (int i = 0; i < gn; i++) ng_seq_free(&seqs[i]);
    }
    rc = 0;
done:
    for (int i = 0; seqs && i < group; i++) ng_seq_free(&seqs[i]);
    free(seqs); free(order); free(scratch); free(p.stops[0]);
    ng_decoder_free(d);
    free(text); free(prompt); free(ptext);
    ng_tokenizer_free(&tok);
    ng_model_free(&m);
    return rc;
}
