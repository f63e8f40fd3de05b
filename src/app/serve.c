/* serve.c -- `nanogpt serve`: an OpenAI-compatible HTTP API on libmicrohttpd.
 *
 *   POST /v1/completions   OpenAI's completions (prompt, max_tokens, temperature, top_p, n,
 *                          stop, seed, stream, echo; plus top_k)
 *   GET  /v1/models        the one model served
 *   GET  /health           {"status": "ok"}
 *
 * One decode thread owns the model. Requests wait in a bounded queue (429 beyond it) and join
 * the running batch between decode steps as soon as the batch has room for all their choices;
 * finished sequences leave it at once (continuous batching). Every choice is an NgSeq of
 * sample.h, seeded with seed + its index, so an answer is the sample `./nanogpt sample` draws
 * with the same prompt, seed and settings. libmicrohttpd runs a thread per connection: a
 * non-streamed request waits for its answer, a streamed one is a response whose reader waits
 * for the next text; idle connections time out. SIGINT/SIGTERM: no new requests (503), the
 * running ones get up to 5 s to finish, then end where they are; then the server stops. */
#include "app/sample.h"
#include "app/run.h"
#include "base/json.h"
#include "base/rng.h"
#include "base/util.h"
#include "persistence/import.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_BODY     (1 << 20)      /* request body bytes (413 beyond) */
#define MAX_BATCH    16             /* sequences decoded together; also n * prompts per request */
#define MAX_QUEUE    64             /* requests waiting for room in the batch (429 beyond) */
#define MAX_CONNS    512            /* open connections */
#define CONN_TIMEOUT 10             /* seconds a connection may stay idle */
#define MAX_STOP_LEN 64
#define GRACE_S      5              /* on SIGINT/SIGTERM, seconds running requests may finish */

typedef enum { REQ_QUEUED, REQ_RUNNING, REQ_DONE } ReqState;

typedef struct {                    /* one choice of a request */
    NgSeq seq;                      /* the decode thread's */
    NgStr out;                      /* text ready for the client (under the lock) */
    size_t taken;                   /* stream: bytes of out sent */
    NgFinish finish;                /* under the lock */
    int finish_sent;
} Choice;

typedef struct Request Request;
struct Request {
    NgSampleParams p;               /* stops owned */
    Choice *c; int n_choices;
    size_t prompt_tokens;
    int stream, refs, cancelled;
    ReqState state;
    char id[40];
    long long created;
    Request *next;                  /* queue */
};

typedef struct {
    NgModel m;
    NgTokenizer tok;
    NgDecoder *d;
    char model_id[NG_STR];
    const char *api_key;
    int slots;
    pthread_mutex_t mu, tok_mu;     /* mu: everything below; tok_mu: the tokenizer's encoder */
    pthread_cond_t work, progress;
    Request *head, *tail; int queued;
    Request *running[MAX_BATCH]; int n_running;
    char slot_used[MAX_BATCH];
    int stopping, cancel_all, finished;
    sigset_t sigs;                  /* SIGINT, SIGTERM: taken by signal_thread */
    unsigned long long counter;
} Server;

/* ---- requests ---- */

static void request_unref(Request *r) {            /* under the lock */
    if (--r->refs > 0) return;
    for (int i = 0; i < r->n_choices; i++) { ng_seq_free(&r->c[i].seq); free(r->c[i].out.s); }
    for (int i = 0; i < r->p.n_stops; i++) free(r->p.stops[i]);
    free(r->c); free(r);
}

/* ---- the decode thread ---- */

static void finish_request(Server *S, Request *r) { /* under the lock: leaves the batch */
    for (int i = 0; i < r->n_choices; i++) {
        Choice *c = &r->c[i];
        if (!c->finish) c->finish = NG_FINISH_LENGTH;   /* cancelled: ends where it is */
        if (r->state == REQ_RUNNING) S->slot_used[c->seq.slot] = 0;
    }
    r->state = REQ_DONE;
    request_unref(r);
}

static void decode_loop(Server *S) {
    float *scratch = ng_malloc(sizeof(float) * 2 * (size_t)S->m.args.vocab_size, "sampling scratch");
    NgSeq *seqs[MAX_BATCH];
    Choice *owner[MAX_BATCH];
    pthread_mutex_lock(&S->mu);
    for (;;) {
        while (!S->head && !S->n_running && !S->stopping) pthread_cond_wait(&S->work, &S->mu);
        /* leaving: cancelled requests (client gone, or shutting down) */
        for (int i = 0; i < S->n_running; i++) {
            Request *r = S->running[i];
            if (r->cancelled || S->cancel_all || !scratch) {
                finish_request(S, r);
                S->running[i--] = S->running[--S->n_running];
            }
        }
        while (S->head && (S->cancel_all || S->head->cancelled || !scratch)) {
            Request *r = S->head;
            S->head = r->next; S->queued--;
            finish_request(S, r);
        }
        if (!S->head) S->tail = NULL;
        /* joining: the oldest waiting requests while the batch has room for all their choices */
        int free_slots = 0;
        for (int s = 0; s < S->slots; s++) free_slots += !S->slot_used[s];
        while (S->head && S->head->n_choices <= free_slots) {
            Request *r = S->head;
            S->head = r->next; S->queued--;
            if (!S->head) S->tail = NULL;
            for (int i = 0, s = 0; i < r->n_choices; i++) {
                while (S->slot_used[s]) s++;
                S->slot_used[s] = 1;
                r->c[i].seq.slot = s;
            }
            free_slots -= r->n_choices;
            r->state = REQ_RUNNING;
            S->running[S->n_running++] = r;
        }
        if (S->stopping && !S->n_running && !S->head) break;
        int n = 0;
        for (int i = 0; i < S->n_running; i++)
            for (int j = 0; j < S->running[i]->n_choices; j++)
                if (!S->running[i]->c[j].seq.finish) { owner[n] = &S->running[i]->c[j]; seqs[n] = &owner[n]->seq; n++; }
        pthread_cond_broadcast(&S->progress);
        if (n == 0 && !S->n_running) continue;
        pthread_mutex_unlock(&S->mu);
        int rc = n ? ng_seqs_step(&S->m, S->d, &S->tok, seqs, n, scratch) : 0;
        pthread_mutex_lock(&S->mu);
        if (rc != 0) {                               /* out of memory: nothing to do but end them */
            fprintf(stderr, "nanogpt: serve: %s\n", ng_errmsg());
            for (int i = 0; i < n; i++) seqs[i]->finish = NG_FINISH_LENGTH;
        }
        /* publishing: the text each choice may hand out, and its end */
        for (int i = 0; i < n; i++) {
            NgSeq *q = seqs[i];
            size_t r = ng_seq_ready(q);
            ng_str_append(&owner[i]->out, q->text.s + q->sent, r - q->sent);
            q->sent = r;
            owner[i]->finish = q->finish;
        }
        for (int i = 0; i < S->n_running; i++) {
            Request *r = S->running[i];
            int done = 1;
            for (int j = 0; j < r->n_choices; j++) done &= r->c[j].finish != NG_RUNNING;
            if (done) { finish_request(S, r); S->running[i--] = S->running[--S->n_running]; }
        }
        pthread_cond_broadcast(&S->progress);
    }
    S->finished = 1;
    pthread_cond_broadcast(&S->progress);
    pthread_mutex_unlock(&S->mu);
    free(scratch);
}

/* SIGINT/SIGTERM: no new requests, up to GRACE_S for the running ones, then the rest end */
static void *signal_thread(void *arg) {
    Server *S = arg;
    int sig = 0;
    sigwait(&S->sigs, &sig);
    fprintf(stderr, "%s: finishing the running requests (at most %d s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM", GRACE_S);
    pthread_mutex_lock(&S->mu);
    S->stopping = 1;
    pthread_cond_signal(&S->work);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += GRACE_S;
    while (!S->finished && pthread_cond_timedwait(&S->progress, &S->mu, &until) != ETIMEDOUT) {}
    S->cancel_all = 1;
    pthread_cond_signal(&S->work);
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

/* ---- JSON answers ---- */

static enum MHD_Result send_body(struct MHD_Connection *con, unsigned status, NgStr *b, const char *type) {
    size_t len;
    char *body = ng_str_take(b, &len);              /* NULL: out of memory, the connection is dropped */
    if (!body) { free(b->s); b->s = NULL; return MHD_NO; }
    struct MHD_Response *res = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    b->s = NULL;
    if (!res) { free(body); return MHD_NO; }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ok = MHD_queue_response(con, status, res);
    MHD_destroy_response(res);
    return ok;
}

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}} */
static enum MHD_Result send_error(struct MHD_Connection *con, unsigned status, const char *type, const char *param,
                                  const char *code, const char *message) {
    NgStr b = {0};
    ng_str_printf(&b, "{\"error\": {\"message\": ");
    ng_str_json_string(&b, message);
    ng_str_printf(&b, ", \"type\": ");
    ng_str_json_string(&b, type);
    ng_str_printf(&b, ", \"param\": ");
    if (param) ng_str_json_string(&b, param); else ng_str_printf(&b, "null");
    ng_str_printf(&b, ", \"code\": ");
    if (code) ng_str_json_string(&b, code); else ng_str_printf(&b, "null");
    ng_str_printf(&b, "}}\n");
    return send_body(con, status, &b, "application/json");
}

static const char *finish_name(NgFinish f) { return f == NG_FINISH_STOP ? "stop" : f == NG_FINISH_LENGTH ? "length" : NULL; }

/* one choice object: {"text", "index", "logprobs", "finish_reason"} */
static void choice_json(NgStr *b, const char *text, size_t n, int index, NgFinish f) {
    ng_str_printf(b, "{\"text\": ");
    ng_str_json_bytes(b, text, n);
    ng_str_printf(b, ", \"index\": %d, \"logprobs\": null, \"finish_reason\": ", index);
    if (finish_name(f)) ng_str_printf(b, "\"%s\"}", finish_name(f)); else ng_str_printf(b, "null}");
}

static void completion_head(NgStr *b, const Server *S, const Request *r) {
    ng_str_printf(b, "{\"id\": \"%s\", \"object\": \"text_completion\", \"created\": %lld, \"model\": ", r->id, r->created);
    ng_str_json_string(b, S->model_id);
    ng_str_printf(b, ", \"choices\": [");
}

/* ---- parsing a completions request ---- */

typedef struct { unsigned status; const char *type, *param, *code; char message[300]; } ApiError;

static int bad(ApiError *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(ApiError *e, const char *param, const char *fmt, ...) {
    e->status = MHD_HTTP_BAD_REQUEST; e->type = "invalid_request_error"; e->param = param; e->code = NULL;
    va_list ap; va_start(ap, fmt); vsnprintf(e->message, sizeof e->message, fmt, ap); va_end(ap);
    return -1;
}

/* a number field in [lo, hi] (integers only when want_int); absent or null: def */
static int get_number(const JsonValue *o, const char *key, int want_int, double lo, double hi, double def, double *out, ApiError *e) {
    const JsonValue *v = ng_json_get(o, key);
    *out = def;
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_NUMBER) return bad(e, key, "'%s' must be a number", key);
    if (want_int && !v->is_integer) return bad(e, key, "'%s' must be an integer", key);
    if (!(v->number >= lo && v->number <= hi)) return bad(e, key, "'%s' must be between %g and %g, got %g", key, lo, hi, v->number);
    *out = v->number;
    return 0;
}

static int get_bool(const JsonValue *o, const char *key, int *out, ApiError *e) {
    const JsonValue *v = ng_json_get(o, key);
    *out = 0;
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_BOOL) return bad(e, key, "'%s' must be true or false", key);
    *out = v->number != 0;
    return 0;
}

/* a string field, or an array of 1..max strings; *n = 0 when absent or null */
static int get_strings(const JsonValue *o, const char *key, int max, const JsonValue **items, int *n, ApiError *e) {
    const JsonValue *v = ng_json_get(o, key);
    *n = 0;
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type == JSON_STRING) { items[0] = v; *n = 1; return 0; }
    if (v->type != JSON_ARRAY) return bad(e, key, "'%s' must be a string or an array of strings", key);
    if (v->n == 0 || v->n > (size_t)max) return bad(e, key, "'%s' must hold 1 to %d strings, got %zu", key, max, v->n);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i].type != JSON_STRING) return bad(e, key, "'%s' must be a string or an array of strings (item %zu is not a string)", key, i);
        items[i] = &v->items[i];
    }
    *n = (int)v->n;
    return 0;
}

static uint64_t random_seed(Server *S) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ng_hash64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ng_hash64(++S->counter));
}

/* the request's choices from its JSON, prompts tokenized and checked against the block */
static Request *parse_completion(Server *S, const JsonValue *o, ApiError *e) {
    int block = S->m.args.block_size, n_prompts = 0, n_stops = 0, echo = 0, stream = 0;
    const JsonValue *prompts[MAX_BATCH], *stops[NG_MAX_STOPS];
    double max_tokens, temperature, top_p, top_k, n, seed, logprobs;
    const JsonValue *model = ng_json_get(o, "model");
    if (model && model->type != JSON_STRING) { bad(e, "model", "'model' must be a string"); return NULL; }
    if (!ng_json_get(o, "prompt")) { bad(e, "prompt", "you must provide a prompt"); return NULL; }
    if (get_strings(o, "prompt", MAX_BATCH, prompts, &n_prompts, e) != 0 ||
        get_strings(o, "stop", NG_MAX_STOPS, stops, &n_stops, e) != 0 ||
        get_number(o, "max_tokens", 1, 0, block, 16, &max_tokens, e) != 0 ||
        get_number(o, "temperature", 0, 0, 2, 1, &temperature, e) != 0 ||
        get_number(o, "top_p", 0, 0, 1, 1, &top_p, e) != 0 ||
        get_number(o, "top_k", 1, 0, 1e9, S->tok.vocab_size, &top_k, e) != 0 ||
        get_number(o, "n", 1, 1, MAX_BATCH, 1, &n, e) != 0 ||
        get_number(o, "seed", 1, -9.2e18, 9.2e18, 0, &seed, e) != 0 ||
        get_number(o, "logprobs", 1, 0, 0, 0, &logprobs, e) != 0 ||
        get_bool(o, "echo", &echo, e) != 0 || get_bool(o, "stream", &stream, e) != 0) {
        if (!strcmp(e->param, "logprobs")) snprintf(e->message, sizeof e->message, "logprobs are not supported (null or 0 only)");
        return NULL;
    }
    if (n_prompts == 0) { bad(e, "prompt", "'prompt' must be a string or an array of strings"); return NULL; }
    if (n_prompts * (int)n > S->slots) {
        bad(e, "n", "n (%d) times the number of prompts (%d) must be at most %d", (int)n, n_prompts, S->slots);
        return NULL;
    }
    for (int i = 0; i < n_stops; i++)
        if (stops[i]->string_len == 0 || stops[i]->string_len > MAX_STOP_LEN || strlen(stops[i]->string) != stops[i]->string_len) {
            bad(e, "stop", "each stop sequence must be 1 to %d bytes (no NUL)", MAX_STOP_LEN);
            return NULL;
        }
    Request *r = ng_calloc(1, sizeof *r, "a request");
    if (!r) { bad(e, NULL, "out of memory"); e->status = 500; e->type = "server_error"; return NULL; }
    r->refs = 1;
    r->stream = stream;
    /* temperature 0: the most likely token (what OpenAI's API does) */
    r->p.temperature = temperature > 0 ? (float)temperature : 1.0f;
    r->p.top_k = temperature > 0 ? (int)(top_k < S->tok.vocab_size ? top_k : S->tok.vocab_size) : 1;
    r->p.top_p = (float)top_p;
    for (int i = 0; i < n_stops; i++) { r->p.stops[i] = ng_malloc(stops[i]->string_len + 1, "a stop"); if (r->p.stops[i]) strcpy(r->p.stops[i], stops[i]->string); r->p.n_stops = i + 1; }
    uint64_t base = ng_json_get(o, "seed") && ng_json_get(o, "seed")->type == JSON_NUMBER ? (uint64_t)ng_json_get(o, "seed")->integer : random_seed(S);
    r->n_choices = n_prompts * (int)n;
    r->c = ng_calloc((size_t)r->n_choices, sizeof(Choice), "the choices");
    if (!r->c) goto oom;
    for (int i = 0; i < n_stops; i++) if (!r->p.stops[i]) goto oom;
    for (int p = 0; p < n_prompts; p++) {
        const JsonValue *pv = prompts[p];
        int *ids = NULL;
        size_t n_ids = 0;
        if (pv->string_len == 0) { bad(e, "prompt", "the prompt is empty"); goto fail; }
        pthread_mutex_lock(&S->tok_mu);
        int rc = ng_tokenizer_encode(&S->tok, pv->string, pv->string_len, &ids, &n_ids);
        pthread_mutex_unlock(&S->tok_mu);
        if (rc != 0) { bad(e, "prompt", "the prompt cannot be encoded: %s", ng_errmsg()); goto fail; }
        if (n_ids + (size_t)max_tokens > (size_t)block) {
            free(ids);
            bad(e, n_ids >= (size_t)block ? "prompt" : "max_tokens",
                "this model's maximum context length is %d tokens, however you requested %zu tokens (%zu in your prompt; %d for the completion)",
                block, n_ids + (size_t)max_tokens, n_ids, (int)max_tokens);
            e->code = "context_length_exceeded";
            goto fail;
        }
        r->prompt_tokens += n_ids;
        for (int i = 0; i < (int)n; i++) {
            Choice *c = &r->c[p * (int)n + i];
            rc = ng_seq_init(&c->seq, &r->p, ids, n_ids, (int)max_tokens, base + (uint64_t)i, 0);
            ng_str_append(&c->out, "", 0);
            if (echo) ng_str_append(&c->out, pv->string, pv->string_len);
            c->finish = c->seq.finish;               /* max_tokens 0: done already */
            if (rc != 0) { free(ids); goto oom; }
        }
        free(ids);
    }
    return r;
oom:
    bad(e, NULL, "out of memory"); e->status = 500; e->type = "server_error";
fail:
    request_unref(r);
    return NULL;
}

/* ---- streaming: server-sent events, one per piece of text ---- */

typedef struct { Server *S; Request *r; NgStr buf; size_t off; int done_sent; } Stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
    Stream *st = cls;
    Server *S = st->S;
    Request *r = st->r;
    if (st->off == st->buf.len) {
        st->buf.len = st->off = 0;
        double since = ng_now();
        pthread_mutex_lock(&S->mu);
        for (;;) {
            for (int i = 0; i < r->n_choices; i++) {
                Choice *c = &r->c[i];
                int end = c->finish && !c->finish_sent;
                if (c->out.len == c->taken && !end) continue;
                ng_str_printf(&st->buf, "data: ");
                completion_head(&st->buf, S, r);
                choice_json(&st->buf, c->out.s + c->taken, c->out.len - c->taken, i, end ? c->finish : NG_RUNNING);
                ng_str_printf(&st->buf, "]}\n\n");
                c->taken = c->out.len;
                c->finish_sent |= end;
            }
            if (st->buf.len) break;
            if (r->state == REQ_DONE) {
                if (!st->done_sent) { ng_str_printf(&st->buf, "data: [DONE]\n\n"); st->done_sent = 1; }
                break;
            }
            /* a comment line after 2 s without text: clients ignore it, and the connection is
             * not idle (libmicrohttpd counts the time this reader waits as idle time) */
            if (ng_now() - since >= 2.0) { ng_str_printf(&st->buf, ": waiting\n\n"); break; }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&S->progress, &S->mu, &ts);
        }
        pthread_mutex_unlock(&S->mu);
        if (st->buf.len == 0) return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t k = st->buf.len - st->off < max ? st->buf.len - st->off : max;
    memcpy(out, st->buf.s + st->off, k);
    st->off += k;
    return (ssize_t)k;
}

static void stream_free(void *cls) {
    Stream *st = cls;
    pthread_mutex_lock(&st->S->mu);
    if (st->r->state != REQ_DONE) { st->r->cancelled = 1; pthread_cond_signal(&st->S->work); }   /* the client left */
    request_unref(st->r);
    pthread_mutex_unlock(&st->S->mu);
    free(st->buf.s); free(st);
}

/* ---- the HTTP side ---- */

typedef struct { NgStr body; int too_big; } Conn;

static enum MHD_Result completions(Server *S, struct MHD_Connection *con, Conn *k) {
    char err[200];
    JsonValue *o = ng_json_parse(k->body.s ? k->body.s : "", k->body.len, err, sizeof err);
    if (!o) {
        char msg[300];
        snprintf(msg, sizeof msg, "we could not parse the JSON body of your request (%s)", err);
        return send_error(con, MHD_HTTP_BAD_REQUEST, "invalid_request_error", NULL, NULL, msg);
    }
    ApiError e = {0};
    Request *r = o->type == JSON_OBJECT ? parse_completion(S, o, &e) : NULL;
    if (o->type != JSON_OBJECT) bad(&e, NULL, "the request body must be a JSON object");
    ng_json_free(o);
    if (!r) return send_error(con, e.status, e.type, e.param, e.code, e.message);
    pthread_mutex_lock(&S->mu);
    snprintf(r->id, sizeof r->id, "cmpl-%016llx", (unsigned long long)ng_hash64(++S->counter) ^ ng_hash64((uint64_t)time(NULL)));
    r->created = (long long)time(NULL);
    if (S->stopping || S->queued >= MAX_QUEUE) {
        int stopping = S->stopping;
        request_unref(r);
        pthread_mutex_unlock(&S->mu);
        if (stopping) return send_error(con, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, NULL, "the server is shutting down");
        return send_error(con, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limit_error", NULL, "rate_limit_exceeded",
                          "too many requests are waiting; retry later");
    }
    r->refs = 2;                                     /* this connection and the decode thread */
    r->state = REQ_QUEUED;
    if (S->tail) S->tail->next = r; else S->head = r;
    S->tail = r; S->queued++;
    pthread_cond_signal(&S->work);
    if (r->stream) {
        pthread_mutex_unlock(&S->mu);
        Stream *st = ng_calloc(1, sizeof *st, "a stream");
        struct MHD_Response *res = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free) : NULL;
        if (!res) {
            pthread_mutex_lock(&S->mu); r->cancelled = 1; request_unref(r); pthread_mutex_unlock(&S->mu);
            free(st);
            return MHD_NO;
        }
        st->S = S; st->r = r;
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result ok = MHD_queue_response(con, MHD_HTTP_OK, res);
        MHD_destroy_response(res);
        return ok;
    }
    while (r->state != REQ_DONE) pthread_cond_wait(&S->progress, &S->mu);
    NgStr b = {0};
    completion_head(&b, S, r);
    size_t completion_tokens = 0;
    for (int i = 0; i < r->n_choices; i++) {
        if (i) ng_str_printf(&b, ", ");
        choice_json(&b, r->c[i].out.s, r->c[i].out.len, i, r->c[i].finish);
        completion_tokens += (size_t)r->c[i].seq.n_new;
    }
    ng_str_printf(&b, "], \"usage\": {\"prompt_tokens\": %zu, \"completion_tokens\": %zu, \"total_tokens\": %zu}}\n",
                  r->prompt_tokens, completion_tokens, r->prompt_tokens + completion_tokens);
    request_unref(r);
    pthread_mutex_unlock(&S->mu);
    return send_body(con, MHD_HTTP_OK, &b, "application/json");
}

static int authorized(const Server *S, struct MHD_Connection *con) {
    if (!S->api_key[0]) return 1;
    const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    const char *given = h + 7, *want = S->api_key;
    size_t n = strlen(want), m = strlen(given);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? given[i] : 0);
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    Server *S = cls;
    Conn *k = *con_cls;
    int post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    int is_completions = !strcmp(url, "/v1/completions");
    if (!k) {                                        /* the headers: answer now unless a body is wanted */
        k = ng_calloc(1, sizeof *k, "a connection");
        if (!k) return MHD_NO;
        *con_cls = k;
        if (!strncmp(url, "/v1/", 4) && !authorized(S, con))
            return send_error(con, MHD_HTTP_UNAUTHORIZED, "invalid_request_error", NULL, "invalid_api_key",
                              "incorrect API key provided (send the header Authorization: Bearer <key>)");
        if (is_completions && post) {
            const char *len = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (len && strtoull(len, NULL, 10) > MAX_BODY) k->too_big = 1;
            if (!k->too_big) return MHD_YES;
        }
    } else if (*upload_size) {                       /* a piece of the body */
        if (!k->too_big && k->body.len + *upload_size > MAX_BODY) { k->too_big = 1; free(k->body.s); memset(&k->body, 0, sizeof k->body); }
        if (!k->too_big) ng_str_append(&k->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (k->too_big) {
        char msg[100];
        snprintf(msg, sizeof msg, "the request body is larger than %d bytes", MAX_BODY);
        return send_error(con, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", NULL, "request_too_large", msg);
    }
    if (is_completions) {
        if (!post) return send_error(con, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL, NULL, "only POST is allowed on /v1/completions");
        return completions(S, con, k);
    }
    int known = !strcmp(url, "/health") || !strcmp(url, "/v1/models") || !strncmp(url, "/v1/models/", 11);
    if (known && !get) return send_error(con, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", NULL, NULL, "only GET is allowed here");
    NgStr b = {0};
    if (!strcmp(url, "/health")) {
        ng_str_printf(&b, "{\"status\": \"ok\"}\n");
        return send_body(con, MHD_HTTP_OK, &b, "application/json");
    }
    if (!strcmp(url, "/v1/models") || (!strncmp(url, "/v1/models/", 11) && !strcmp(url + 11, S->model_id))) {
        int list = !strcmp(url, "/v1/models");
        if (list) ng_str_printf(&b, "{\"object\": \"list\", \"data\": [");
        ng_str_printf(&b, "{\"id\": ");
        ng_str_json_string(&b, S->model_id);
        ng_str_printf(&b, ", \"object\": \"model\", \"created\": 0, \"owned_by\": \"nanogpt\", \"context_length\": %d}%s\n",
                      S->m.args.block_size, list ? "]}" : "");
        return send_body(con, MHD_HTTP_OK, &b, "application/json");
    }
    char msg[200];
    snprintf(msg, sizeof msg, "unknown URL (%.10s %.120s)", method, url);
    return send_error(con, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, known ? "model_not_found" : NULL, msg);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode why) {
    Conn *k = *con_cls;
    if (k) { free(k->body.s); free(k); }
    *con_cls = NULL;
}

/* ---- the command ---- */

int ng_serve(const NgConfig *cfg) {
    Server *S = ng_calloc(1, sizeof *S, "the server");
    if (!S) return -1;
    NgConfig saved;
    int rc = -1, mu = 0;
    struct MHD_Daemon *daemon = NULL;
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, cfg->host, &((struct sockaddr_in *)&addr)->sin_addr) == 1) {
        ((struct sockaddr_in *)&addr)->sin_family = AF_INET;
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->host, &((struct sockaddr_in6 *)&addr)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&addr)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        free(S);
        return ng_fail("host: '%s' is not an IPv4 or IPv6 address", cfg->host);
    }
    if (ng_config_validate(cfg) != 0) { free(S); return -1; }
    if (ng_load_for_inference(cfg, &S->m, &saved, &S->tok) != 0) { free(S); return -1; }
    if (S->tok.kind == NG_TOK_NONE) { ng_fail("%s/ckpt.safetensors: the checkpoint has no vocabulary (meta) to encode prompts with", cfg->out_dir); goto done; }
    snprintf(S->model_id, sizeof S->model_id, "%s",
             ng_config_was_set(cfg, "init_from") && ng_is_pretrained_spec(cfg->init_from) ? cfg->init_from : cfg->out_dir);
    S->api_key = cfg->api_key;
    S->slots = ng_decoder_budget(&S->m, MAX_BATCH);
    if (!(S->d = ng_decoder_new(&S->m, S->slots))) goto done;
    pthread_mutex_init(&S->mu, NULL); pthread_mutex_init(&S->tok_mu, NULL);
    pthread_cond_init(&S->work, NULL); pthread_cond_init(&S->progress, NULL);
    mu = 1;
    /* SIGINT/SIGTERM are taken by signal_thread: blocked in every thread started from here */
    sigset_t sigs, old;
    sigemptyset(&sigs); sigaddset(&sigs, SIGINT); sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);
    daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, S,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_END);
    if (!daemon) { ng_fail("serve: cannot listen on %s port %d: %s", cfg->host, cfg->port, strerror(errno)); goto restore; }
    S->sigs = sigs;
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_thread, S) != 0) {
        ng_fail("serve: cannot start a thread");
        S->stopping = S->cancel_all = 1;              /* ends whatever arrived meanwhile */
        decode_loop(S);
        goto stop;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "serving %s on http://%s%s%s:%u (%d sequences per batch; Ctrl-C stops)\n", S->model_id,
            flags & MHD_USE_IPv6 ? "[" : "", cfg->host, flags & MHD_USE_IPv6 ? "]" : "", info ? info->port : (unsigned)cfg->port, S->slots);
    /* the decode loop runs on this thread (its OpenMP team and scratch live as long as the
     * process) until a signal stops it */
    decode_loop(S);
    pthread_join(sig_thread, NULL);
    rc = 0;
stop:
    MHD_stop_daemon(daemon);                          /* waits for the connections' threads */
restore:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
done:
    if (mu) {
        pthread_mutex_destroy(&S->mu); pthread_mutex_destroy(&S->tok_mu);
        pthread_cond_destroy(&S->work); pthread_cond_destroy(&S->progress);
    }
    ng_decoder_free(S->d);
    ng_tokenizer_free(&S->tok);
    ng_model_free(&S->m);
    free(S);
    return rc;
}
