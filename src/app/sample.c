/* sample.c -- nanoGPT's sample.py: generate text from the checkpoint in out_dir.
 * Each step crops the context to block_size, takes the last position's logits, divides by
 * temperature, keeps the top_k, and draws from the softmax. */
#include "formats/formats.h"
#include "app/train.h"
#include "app/sample.h"
#include "formats/bpe.h"
#include <errno.h>
#include "base/util.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The k-th largest (k >= 1) of a[0..n), reordering a: quickselect with a three-way partition
 * (O(n), duplicates fine). NaN must have been replaced (comparisons must be a total order). */
static float kth_largest(float *a, int n, int k) {
    int lo = 0, hi = n - 1, target = k - 1;    /* position in descending order */
    while (lo < hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));   /* median of 3 */
        int lt = lo, i = lo, gt = hi;          /* [lo,lt) > pivot, [lt,i) == pivot, (gt,hi] < pivot */
        while (i <= gt) {
            float v = a[i];
            if (v > pivot) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v < pivot) { a[i] = a[gt]; a[gt--] = v; }
            else i++;
        }
        if (target < lt) hi = lt - 1;
        else if (target > gt) lo = gt + 1;
        else return pivot;
    }
    return a[lo];
}

/* The smallest weight c such that the weights >= c of a[0..n) (all > 0) add up to at least
 * need: a quickselect over the values in descending order that keeps the mass of those above
 * the current range (O(n), reorders a, ties all on one side). Rounding that leaves the total
 * short of need keeps everything (0). */
static float nucleus_cutoff(float *a, int n, double need) {
    int lo = 0, hi = n - 1;
    double above = 0.0;                        /* mass of the values larger than all of [lo, hi] */
    while (lo <= hi) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
        float pivot = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));   /* median of 3 */
        int lt = lo, i = lo, gt = hi;          /* [lo,lt) > pivot, [lt,gt] == pivot, (gt,hi] < pivot */
        while (i <= gt) {
            float v = a[i];
            if (v > pivot) { a[i++] = a[lt]; a[lt++] = v; }
            else if (v < pivot) { a[i] = a[gt]; a[gt--] = v; }
            else i++;
        }
        double big = 0.0;
        for (int j = lo; j < lt; j++) big += a[j];
        if (above + big >= need) { hi = lt - 1; continue; }
        double eq = (double)pivot * (gt - lt + 1);
        if (above + big + eq >= need) return pivot;
        above += big + eq;
        lo = gt + 1;
    }
    return 0.0f;
}

/* Draws one token from logits(V) with temperature, top-k and top-p; scratch holds 2V floats. */
int ng_sample_token_p(const float *logits, int V, float temperature, int top_k, float top_p, NgRng *rng, float *scratch) {
    float *z = scratch, *sorted = scratch + V;
    for (int v = 0; v < V; v++) z[v] = logits[v] / temperature;
    float cutoff = -INFINITY;
    if (top_k < V) {
        for (int v = 0; v < V; v++) sorted[v] = z[v] == z[v] ? z[v] : -INFINITY;
        cutoff = kth_largest(sorted, V, top_k);   /* logits below the k-th largest are dropped */
    }
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) if (z[v] >= cutoff && z[v] > mx) mx = z[v];
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        float e = z[v] >= cutoff ? (mx == INFINITY ? (z[v] == mx ? 1.0f : 0.0f) : expf(z[v] - mx)) : 0.0f;
        z[v] = e; sum += e;                    /* (an infinite logit: only the infinite ones stay) */
    }
    if (top_p < 1.0f && sum > 0.0) {
        int n = 0;
        float keep;
        for (int v = 0; v < V; v++) if (z[v] > 0.0f) sorted[n++] = z[v];
        if (top_p > 0.0f) keep = nucleus_cutoff(sorted, n, (double)top_p * sum);
        else { keep = 0.0f; for (int j = 0; j < n; j++) keep = sorted[j] > keep ? sorted[j] : keep; }  /* the most likely only */
        sum = 0.0;
        for (int v = 0; v < V; v++) { if (z[v] < keep) z[v] = 0.0f; sum += z[v]; }
    }
    double u = ng_rng_uniform(rng) * sum, acc = 0.0;
    int last = 0;
    for (int v = 0; v < V; v++) {
        if (z[v] <= 0.0f) continue;
        acc += z[v];
        last = v;
        if (u < acc) return v;
    }
    return last;
}

int ng_sample_token(const float *logits, int V, float temperature, int top_k, NgRng *rng, float *scratch) {
    return ng_sample_token_p(logits, V, temperature, top_k, 1.0f, rng, scratch);
}

/* one sequence through the batched decoder (a batch of one), so that a sample is the same
 * token for token whether it is drawn alone or with others (ng_seqs_step) */
int ng_generate(NgModel *m, int *ids, size_t n_prompt, int max_new, float temperature, int top_k,
                int vocab_limit, NgRng *rng) {
    int V = m->args.vocab_size, block = m->args.block_size, slot = 0;
    int Vs = vocab_limit > 0 && vocab_limit < V ? vocab_limit : V;
    if (top_k > Vs) top_k = Vs;
    if (n_prompt == 0) return ng_fail("generate: empty prompt");
    float *scratch = ng_malloc(sizeof(float) * 2 * (size_t)V, "sampling scratch");
    NgDecoder *d = scratch ? ng_decoder_new(m, 1) : NULL;
    int rc = d ? 0 : -1;
    size_t len = n_prompt;
    for (int k = 0; k < max_new && rc == 0; k++) {
        if (len > (size_t)block)                  /* cropped: every position moved, the whole window again */
            rc = ng_decoder_prefill(m, d, slot, ids + len - block, block);
        else if (k == 0)
            rc = ng_decoder_prefill(m, d, slot, ids, (int)len);
        else
            rc = ng_model_decode_batch(m, d, 1, &slot, ids + len - 1);
        if (rc == 0) ids[len++] = ng_sample_token(ng_decoder_logits(d, 0), Vs, temperature, top_k, rng, scratch);
    }
    ng_decoder_free(d);
    free(scratch);
    return rc;
}

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
static char *read_start(const char *start, size_t *n) {
    if (strncmp(start, "FILE:", 5) == 0) return ng_read_file(start + 5, n);
    char *s = ng_malloc(strlen(start) + 1, "the prompt");
    if (s) { strcpy(s, start); *n = strlen(s); }
    return s;
}

static int put(FILE *out, const char *b, size_t n) {
    if (n && fwrite(b, 1, n, out) != n) return ng_fail("output: write failed: %s", strerror(errno));
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
    if (fflush(out) != 0 || ferror(out)) return ng_fail("output: write failed: %s", strerror(errno));
    return 0;
}

int ng_sample(const NgConfig *cfg, FILE *out) {
    NgModel m;
    NgTokenizer tok;
    NgConfig saved;
    ng_set_threads(cfg->threads);
    if (ng_config_validate(cfg) != 0) return -1;
    if (ng_load_for_inference(cfg, &m, &saved, &tok) != 0) return -1;
    int rc = -1, group = 0;
    int *prompt = NULL;
    char *text = NULL, *ptext = NULL;
    float *scratch = NULL;
    NgDecoder *d = NULL;
    NgSeq *seqs = NULL;
    NgSeq **order = NULL;
    size_t n_text = 0, n_prompt = 0, np = 0;
    NgSampleParams p = {cfg->temperature, cfg->top_p, cfg->top_k, cfg->stop_at_eos, {NULL}, 0};
    if (cfg->stop[0]) { if (!(p.stops[0] = ng_unescape(cfg->stop))) goto done; p.n_stops = 1; }
    if (ng_config_was_set(cfg, "block_size") && cfg->block_size > m.args.block_size) {   /* as eval */
        ng_fail("%s/ckpt.safetensors: block_size %d is larger than the checkpoint's %d", cfg->out_dir, cfg->block_size, m.args.block_size);
        goto done;
    }
    if (tok.kind == NG_TOK_NONE) {
        ng_fail("%s/ckpt.safetensors: the checkpoint has no vocabulary (meta) to encode the prompt with", cfg->out_dir);
        goto done;
    }
    if (!(text = read_start(cfg->start, &n_text))) goto done;
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
