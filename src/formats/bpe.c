/* bpe.c -- GPT-2's byte-level BPE, identical to tiktoken's "gpt2" encoding.
 *
 * Encoding a text, as tiktoken does it (CoreBPE::encode_native / encode_ordinary):
 *   1. with allowed special tokens, cut the text at each "<|endoftext|>" (which becomes id
 *      50256) and encode the segments in between on their own;
 *   2. split a segment into pieces with GPT-2's pattern (the pre-tokenizer, below);
 *   3. a piece whose bytes are a token is that token; otherwise it is BPE-merged: start from
 *      its bytes as single-byte tokens, then repeatedly merge the adjacent pair whose
 *      concatenation is the token of lowest rank (the leftmost one on a tie), until no
 *      concatenation of neighbours is a token. For GPT-2 a token's rank is its id.
 * Note that (3) looks up the *concatenation* (tiktoken's byte_pair_merge), not the pair in
 * vocab.bpe: two neighbours merge if their bytes together are a token, whichever merge made it.
 * The parts of a word are always slices of it, so the question is a hash lookup of a slice.
 *
 * The vocabulary: encoder.json maps each token, written with GPT-2's bytes_to_unicode
 * alphabet (every byte is a printable character), to its id; vocab.bpe lists the 50,000
 * merges in rank order. tiktoken derives the ranks from vocab.bpe and checks that they equal
 * encoder.json's ids; we check the same when loading.
 *
 * The pre-tokenizer is a hand-written scanner for
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with leftmost-first alternation as in tiktoken's regex engine. \p{L} and \p{N} are the
 * Unicode general categories L* and N*, \s is the White_Space property (Rust regex's \s),
 * all from ICU. At a position, in order:
 *   - an ASCII apostrophe followed by s t m d, or by re ve ll (lower case only): that;
 *   - an ASCII space followed by a letter/number/other character: the space and the run of
 *     characters of that same class; a letter/number/other character: its run;
 *   - otherwise a run of whitespace: all of it at the end of the text; else all but its last
 *     character when it has two or more (\s+ backtracks until (?!\S) holds); else the one
 *     character (the \s+ alternative). So "\n\n  x" is "\n\n " + " x".
 * A byte that is not part of valid UTF-8 is one character of the "other" class (see bpe.h).
 */
#include "formats/bpe.h"
#include "base/utf8.h"
#include "base/json.h"
#include "base/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>

/* the embedded files (gpt2_files.S) */
extern const char ng_gpt2_encoder_json[], ng_gpt2_encoder_json_end[];
extern const char ng_gpt2_vocab_bpe[], ng_gpt2_vocab_bpe_end[];

enum { CL_OTHER = 0, CL_LETTER = 1, CL_NUMBER = 2, CL_SPACE = 3 };

#define EOT_TEXT "<|endoftext|>"
#define EOT_LEN 13
#define EMPTY32 0xFFFFFFFFu

struct NgBpe {
    int vocab;                       /* 50257 */
    char *blob;                      /* bytes of every token, back to back */
    uint32_t *off;                   /* token id -> blob offset, [vocab + 1] */
    int byte_token[256];             /* single byte -> id */
    /* token bytes -> id (open addressing, id and hash tag side by side; the special token is
     * not in it) */
    uint32_t tmask;
    uint32_t (*table)[2];            /* {id, upper 32 bits of the hash}, id EMPTY32 = free */
    uint8_t cls[0x10000];            /* class of each BMP code point */
};

/* ---------------------------------------------------------------------------------------
 * hashing */

static inline uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8; n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static inline int token_find_h(const NgBpe *b, const unsigned char *s, size_t n, uint64_t h) {
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & b->tmask;; i = (i + 1) & b->tmask) {
        uint32_t id = b->table[i][0];
        if (id == EMPTY32) return -1;
        if (b->table[i][1] == tag && b->off[id + 1] - b->off[id] == n && memcmp(b->blob + b->off[id], s, n) == 0)
            return (int)id;
    }
}

static inline int token_find(const NgBpe *b, const unsigned char *s, size_t n) {
    return token_find_h(b, s, n, hash_bytes(s, n));
}

/* rank (= id) of the token s[0..n), or INT_MAX: the rank of merging the parts that make s */
static inline int rank_of(const NgBpe *b, const unsigned char *s, size_t n) {
    int id = token_find(b, s, n);
    return id < 0 ? INT_MAX : id;
}

/* ---------------------------------------------------------------------------------------
 * UTF-8 and character classes */

/* \p{L}: Lu Ll Lt Lm Lo; \p{N}: Nd Nl No; \s: White_Space */
static int classify(UChar32 c) {
    if (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE)) return CL_SPACE;
    switch (u_charType(c)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER: case U_OTHER_LETTER:
        return CL_LETTER;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
        return CL_NUMBER;
    default:
        return CL_OTHER;
    }
}

/* Length (1..4) of the character at s[0] (n >= 1), and its class; an invalid byte is a
 * 1-byte character of class OTHER. Same validity rules as ng_utf8_decode. */
static inline int unit_at(const NgBpe *b, const unsigned char *s, size_t n, int *cls) {
    unsigned c = s[0];
    if (c < 0x80) { *cls = b->cls[c]; return 1; }
    uint32_t cp;
    int len;
    if (c >= 0xC2 && c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) goto bad;
        cp = (c & 0x1Fu) << 6 | (s[1] & 0x3Fu);
        len = 2;
    } else if (c >= 0xE0 && c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) goto bad;
        cp = (c & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
        len = 3;
    } else if (c >= 0xF0 && c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) goto bad;
        cp = (c & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu);
        if (cp < 0x10000 || cp > 0x10FFFF) goto bad;
        *cls = classify((UChar32)cp);                    /* outside the BMP: rare, ask ICU */
        return 4;
    } else goto bad;
    *cls = b->cls[cp];
    return len;
bad:
    *cls = CL_OTHER;
    return 1;
}

/* ---------------------------------------------------------------------------------------
 * the pre-tokenizer */

size_t ng_bpe_piece_end(const NgBpe *b, const unsigned char *s, size_t n, size_t i) {
    unsigned c = s[i];
    if (c == '\'' && i + 1 < n) {                        /* 's 't 're 've 'm 'll 'd */
        unsigned d = s[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
        if (i + 2 < n) {
            unsigned e = s[i + 2];
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return i + 3;
        }
    }
    int cls, k;
    size_t j = i;
    if (c == ' ' && i + 1 < n) {                         /*  ?\p{L}+  ?\p{N}+  ?[^\s\p{L}\p{N}]+ */
        int len = unit_at(b, s + i + 1, n - i - 1, &cls);
        if (cls != CL_SPACE) { j = i + 1 + (size_t)len; goto run; }
    }
    j = i + (size_t)unit_at(b, s + i, n - i, &cls);
    if (cls != CL_SPACE) goto run;
    /* whitespace: \s+(?!\S) | \s+ */
    size_t last = i;
    int count = 1;
    while (j < n) {
        int len = unit_at(b, s + j, n - j, &k);
        if (k != CL_SPACE) return count >= 2 ? last : j;
        last = j; j += (size_t)len; count++;
    }
    return n;
run:
    while (j < n) {
        if (s[j] < 0x80) {                               /* ASCII fast path */
            if (b->cls[s[j]] != cls) break;
            j++;
            continue;
        }
        int len = unit_at(b, s + j, n - j, &k);
        if (k != cls) break;
        j += (size_t)len;
    }
    return j;
}

/* Safe points for streaming. Claim: if b satisfies one of
 *   (A) s[b-1] == '\n', the character before it is not whitespace, and the character at b is
 *       not whitespace;
 *   (B) s[b] == ' ', the character before b is not whitespace, and the character at b+1 is
 *       not whitespace;
 * then the pieces of s[0..b) + s[b..) are the pieces of s, so encoding the two parts
 * separately gives the same ids. Why:
 *   - The scanner is left-context free: the piece starting at p depends only on s[p..). So it
 *     suffices that b is a piece boundary of s and that s[0..b), scanned alone, ends its last
 *     piece exactly at b with the same extent.
 *   - Every piece is either made of whitespace only, or contains no whitespace except a
 *     leading ASCII space. (A): the '\n' at b-1 is whitespace and the character after it is
 *     not, so no piece contains both; the character before the '\n' is not whitespace, so the
 *     '\n' is a whitespace run of length one: in s it is followed by \S, so \s+(?!\S) fails and
 *     \s+ takes just "\n"; in s[0..b) it is at the end, so \s+(?!\S) takes just "\n". The
 *     piece before it is a non-whitespace run (or contraction) that stops at the '\n' in both.
 *     (B): the space at b is whitespace, the character before it is not, so the piece
 *     containing b-1 is a non-whitespace run or contraction that stops before the space in s
 *     (a run's class never includes whitespace; no contraction continues with a space) and at
 *     the end of s[0..b); the space itself starts a piece (" ?X+" when followed by non-space).
 *   - Pieces that end before b-1 look ahead at most to the character after them or two bytes
 *     after an apostrophe (the contraction " 'l" + "l"), all inside s[0..b) and unchanged.
 * Characters are decoded completely: b is searched only where the characters around it lie
 * inside s[0..n), so a character split by the end of the buffer is never misclassified. The
 * train/val split is not a safe point, and needs none: nanoGPT encodes the two parts apart. */
static int class_before(const NgBpe *b, const unsigned char *s, size_t e) {
    /* class of the character ending at s[e-1]; s[e] is ASCII, so no valid sequence crosses e */
    if (s[e - 1] < 0x80) return b->cls[s[e - 1]];
    for (size_t k = 2; k <= 4 && k <= e; k++) {
        int cls;
        if ((s[e - k] & 0xC0) == 0x80) continue;         /* continuation: look further back */
        if ((size_t)unit_at(b, s + e - k, k, &cls) == k) return cls;
        break;
    }
    return CL_OTHER;                                     /* an invalid byte */
}

size_t ng_bpe_safe_cut(const NgBpe *b, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    if (n < 12) return 0;
    for (size_t p = n - 6; p >= 6; p--) {                 /* 4 bytes of room on either side */
        int cls;
        if (s[p] == '\n') {                              /* (A) with b = p + 1 */
            unit_at(b, s + p + 1, n - p - 1, &cls);
            if (cls != CL_SPACE && class_before(b, s, p) != CL_SPACE) return p + 1;
        } else if (s[p] == ' ') {                         /* (B) with b = p */
            unit_at(b, s + p + 1, n - p - 1, &cls);
            if (cls != CL_SPACE && class_before(b, s, p) != CL_SPACE) return p;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * the encoder */

#define CACHE_SLOTS 4096             /* power of two */
#define CACHE_BYTES 24
#define CACHE_IDS 12

typedef struct {
    uint64_t h;
    uint8_t len, nids;
    unsigned char bytes[CACHE_BYTES];
    uint16_t ids[CACHE_IDS];
} CacheSlot;

#define SMALL_PIECE 256           /* longer pieces merge with the heap */

struct NgBpeEncoder {
    const NgBpe *b;
    size_t small_piece;              /* SMALL_PIECE; tests set 1 (ng_bpe_encoder_set_small_piece) */
    int *out; size_t n_out, cap_out;
    CacheSlot *cache;                /* direct-mapped word cache, allocated on first use */
    int *tok, *rank; size_t cap_tok, cap_rank;
    /* heap merge: per byte position */
    int *htok, *hprev, *hnext; uint64_t *heap;
    size_t cap_htok, cap_hprev, cap_hnext, cap_heap;
};

NgBpeEncoder *ng_bpe_encoder_new(const NgBpe *b) {
    NgBpeEncoder *e = ng_calloc(1, sizeof *e, "BPE encoder");
    if (e) { e->b = b; e->small_piece = SMALL_PIECE; }
    return e;
}

void ng_bpe_encoder_set_small_piece(NgBpeEncoder *e, size_t bytes) { e->small_piece = bytes; }

void ng_bpe_encoder_free(NgBpeEncoder *e) {
    if (!e) return;
    free(e->out); free(e->cache); free(e->tok); free(e->rank);
    free(e->htok); free(e->hprev); free(e->hnext); free(e->heap);
    free(e);
}

void ng_bpe_encoder_reset(NgBpeEncoder *e) { e->n_out = 0; }

static int out_reserve(NgBpeEncoder *e, size_t more) {
    return ng_grow((void **)&e->out, &e->cap_out, e->n_out + more, sizeof *e->out, "token ids");
}

/* tiktoken's byte_pair_merge on short pieces: O(n^2) on a few bytes beats any structure.
 * Part k is s[start[k]..start[k+1]); rank[k] is the rank of merging parts k and k+1. */
static int merge_small(NgBpeEncoder *e, const unsigned char *s, size_t n) {
    const NgBpe *b = e->b;
    if (ng_grow((void **)&e->tok, &e->cap_tok, n + 1, sizeof *e->tok, "BPE merge") != 0 ||
        ng_grow((void **)&e->rank, &e->cap_rank, n + 1, sizeof *e->rank, "BPE merge") != 0) return -1;
    int *start = e->tok, *rank = e->rank;
    size_t m = n;                                        /* number of parts */
    for (size_t i = 0; i <= n; i++) start[i] = (int)i;
    for (size_t i = 0; i + 1 < n; i++) rank[i] = rank_of(b, s + i, 2);
    rank[n - 1] = INT_MAX;
    for (;;) {
        int best = INT_MAX;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rank[i] < best) { best = rank[i]; at = i; }
        if (best == INT_MAX) break;
        /* parts at and at+1 become one */
        memmove(start + at + 1, start + at + 2, (m - at - 1) * sizeof *start);
        memmove(rank + at + 1, rank + at + 2, (m - at - 2) * sizeof *rank);
        m--;
        rank[at] = at + 1 < m ? rank_of(b, s + start[at], (size_t)(start[at + 2] - start[at])) : INT_MAX;
        if (at > 0) rank[at - 1] = rank_of(b, s + start[at - 1], (size_t)(start[at + 1] - start[at - 1]));
    }
    if (out_reserve(e, m) != 0) return -1;
    for (size_t k = 0; k < m; k++) {
        size_t l = (size_t)(start[k + 1] - start[k]);
        e->out[e->n_out++] = l == 1 ? b->byte_token[s[start[k]]] : token_find(b, s + start[k], l);
    }
    return 0;
}

/* min-heap of (rank << 32 | position): lowest rank first, leftmost on ties -- tiktoken's order */
static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p]; i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c]; i = c;
    }
    if (m) h[i] = v;
    return top;
}

/* The same merges in O(n log n) for long pieces (a run of 100k spaces or digits): parts are a
 * linked list indexed by their first byte; every adjacent pair is in the heap with its rank
 * (stale entries are skipped when popped: a pair is live if its left part still starts there
 * and merging it with its current right neighbour has that rank). */
static int merge_long(NgBpeEncoder *e, const unsigned char *s, size_t n) {
    const NgBpe *b = e->b;
    if (n > INT_MAX / 2) return ng_fail("a %zu-byte word is too long to encode", n);
    /* the heap holds < 2n entries: n-1 pairs at first, then each merge pops one, pushes <= 2 */
    if (ng_grow((void **)&e->htok, &e->cap_htok, n, sizeof *e->htok, "BPE heap merge") != 0 ||
        ng_grow((void **)&e->hprev, &e->cap_hprev, n, sizeof *e->hprev, "BPE heap merge") != 0 ||
        ng_grow((void **)&e->hnext, &e->cap_hnext, n, sizeof *e->hnext, "BPE heap merge") != 0 ||
        ng_grow((void **)&e->heap, &e->cap_heap, 2 * n, sizeof *e->heap, "BPE heap merge") != 0) return -1;
    int *alive = e->htok, *prev = e->hprev, *next = e->hnext;
    uint64_t *heap = e->heap;
    size_t hn = 0;
    const int N = (int)n;
    for (int i = 0; i < N; i++) { alive[i] = 1; prev[i] = i - 1; next[i] = i + 1; }   /* next == N: last */
    for (int i = 0; i + 1 < N; i++) {
        int r = rank_of(b, s + i, 2);
        if (r != INT_MAX) heap_push(heap, &hn, (uint64_t)r << 32 | (uint32_t)i);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        int r = (int)(top >> 32), i = (int)(uint32_t)top;
        int j = next[i];
        if (!alive[i] || j >= N || rank_of(b, s + i, (size_t)(next[j] - i)) != r) continue;   /* stale */
        alive[j] = 0;                                    /* part j joins part i */
        next[i] = next[j];
        if (next[i] < N) prev[next[i]] = i;
        if (prev[i] >= 0) {
            int q = rank_of(b, s + prev[i], (size_t)(next[i] - prev[i]));
            if (q != INT_MAX) heap_push(heap, &hn, (uint64_t)q << 32 | (uint32_t)prev[i]);
        }
        if (next[i] < N) {
            int q = rank_of(b, s + i, (size_t)(next[next[i]] - i));
            if (q != INT_MAX) heap_push(heap, &hn, (uint64_t)q << 32 | (uint32_t)i);
        }
    }
    size_t m = 0;
    for (int i = 0; i < N; i = next[i]) m++;
    if (out_reserve(e, m) != 0) return -1;
    for (int i = 0; i < N; i = next[i])
        e->out[e->n_out++] = next[i] - i == 1 ? b->byte_token[s[i]] : token_find(b, s + i, (size_t)(next[i] - i));
    return 0;
}

static int encode_piece(NgBpeEncoder *e, const unsigned char *s, size_t n) {
    const NgBpe *b = e->b;
    if (out_reserve(e, 1) != 0) return -1;
    if (n == 1) { e->out[e->n_out++] = b->byte_token[s[0]]; return 0; }
    uint64_t h = hash_bytes(s, n);
    int id = token_find_h(b, s, n, h);
    if (id >= 0) { e->out[e->n_out++] = id; return 0; }
    if (n > e->small_piece) return merge_long(e, s, n);
    CacheSlot *slot = NULL;
    if (n <= CACHE_BYTES) {
        if (!e->cache && !(e->cache = calloc(CACHE_SLOTS, sizeof(CacheSlot)))) return ng_fail("out of memory in BPE");
        slot = &e->cache[(h >> 20) & (CACHE_SLOTS - 1)];
        if (slot->h == h && slot->len == n && memcmp(slot->bytes, s, n) == 0) {
            if (out_reserve(e, slot->nids) != 0) return -1;
            for (int k = 0; k < slot->nids; k++) e->out[e->n_out++] = slot->ids[k];
            return 0;
        }
    }
    size_t before = e->n_out;
    if (merge_small(e, s, n) != 0) return -1;
    size_t m = e->n_out - before;
    if (slot && m <= CACHE_IDS) {
        slot->h = h; slot->len = (uint8_t)n; slot->nids = (uint8_t)m;
        memcpy(slot->bytes, s, n);
        for (size_t k = 0; k < m; k++) slot->ids[k] = (uint16_t)e->out[before + k];
    }
    return 0;
}

static int encode_ordinary(NgBpeEncoder *e, const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t j = ng_bpe_piece_end(e->b, s, n, i);
        if (encode_piece(e, s + i, j - i) != 0) return -1;
        i = j;
    }
    return 0;
}

int ng_bpe_encoder_run(NgBpeEncoder *e, const char *text, size_t n, int allow_special,
                       const int **ids, size_t *n_ids) {
    const unsigned char *s = (const unsigned char *)text;
    if (allow_special) {
        size_t start = 0;
        for (;;) {
            const unsigned char *hit = n - start >= EOT_LEN ? memmem(s + start, n - start, EOT_TEXT, EOT_LEN) : NULL;
            size_t end = hit ? (size_t)(hit - s) : n;
            if (encode_ordinary(e, s + start, end - start) != 0) return -1;
            if (!hit) break;
            if (out_reserve(e, 1) != 0) return -1;
            e->out[e->n_out++] = NG_GPT2_EOT;
            start = end + EOT_LEN;
        }
    } else if (encode_ordinary(e, s, n) != 0) return -1;
    if (ids) *ids = e->out;
    if (n_ids) *n_ids = e->n_out;
    return 0;
}

int ng_bpe_encode(const NgBpe *b, const char *text, size_t n, int allow_special, int **ids, size_t *n_ids) {
    *ids = NULL; *n_ids = 0;
    NgBpeEncoder *e = ng_bpe_encoder_new(b);
    if (!e) return -1;
    if (out_reserve(e, 1) != 0 || ng_bpe_encoder_run(e, text, n, allow_special, NULL, NULL) != 0) {
        ng_bpe_encoder_free(e);
        return -1;
    }
    *ids = e->out; *n_ids = e->n_out;
    e->out = NULL;
    ng_bpe_encoder_free(e);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * decoding */

const char *ng_bpe_token_bytes(const NgBpe *b, int id, size_t *len) {
    if (!b || id < 0 || id >= b->vocab) return NULL;
    if (len) *len = b->off[id + 1] - b->off[id];
    return b->blob + b->off[id];
}

int ng_bpe_vocab_size(const NgBpe *b) { return b->vocab; }

char *ng_bpe_decode(const NgBpe *b, const int *ids, size_t n, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= b->vocab) {
            ng_fail("token id %d at position %zu is out of range (0..%d)", ids[i], i, b->vocab - 1);
            return NULL;
        }
        total += b->off[ids[i] + 1] - b->off[ids[i]];
    }
    char *out = ng_malloc(total + 1, "decoded text");
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = b->off[ids[i] + 1] - b->off[ids[i]];
        memcpy(out + o, b->blob + b->off[ids[i]], l);
        o += l;
    }
    out[o] = 0;
    if (len) *len = o;
    return out;
}

/* ---------------------------------------------------------------------------------------
 * loading */

void ng_bpe_free(NgBpe *b) {
    if (!b) return;
    free(b->blob); free(b->off); free(b->table);
    free(b);
}

/* GPT-2's bytes_to_unicode: the printable bytes ! .. ~, ¡ .. ¬, ® .. ÿ stand for themselves,
 * the other 68 bytes (in order) for U+0100, U+0101, ...; rank_to_byte lists the bytes in the
 * order of their ranks (printable first), which is the order of ids 0..255 in encoder.json. */
static void byte_alphabet(int unicode_to_byte[0x144], unsigned char rank_to_byte[256]) {
    int is_printable[256] = {0}, r = 0, extra = 0;
    for (int c = '!'; c <= '~'; c++) is_printable[c] = 1;
    for (int c = 0xA1; c <= 0xAC; c++) is_printable[c] = 1;
    for (int c = 0xAE; c <= 0xFF; c++) is_printable[c] = 1;
    for (int i = 0; i < 0x144; i++) unicode_to_byte[i] = -1;
    for (int c = 0; c < 256; c++) if (is_printable[c]) { unicode_to_byte[c] = c; rank_to_byte[r++] = (unsigned char)c; }
    for (int c = 0; c < 256; c++) if (!is_printable[c]) { unicode_to_byte[0x100 + extra++] = c; rank_to_byte[r++] = (unsigned char)c; }
}

/* A token as written in encoder.json/vocab.bpe -> its bytes (out has room for len bytes). */
static long unmap_token(const int u2b[0x144], const char *s, size_t len, unsigned char *out) {
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = ng_utf8_decode((const unsigned char *)s + i, len - i, &cp, NULL);
        if (!l || cp >= 0x144 || u2b[cp] < 0) return -1;
        out[o++] = (unsigned char)u2b[cp];
        i += (size_t)l;
    }
    return (long)o;
}

static int token_insert(NgBpe *b, int id) {
    const unsigned char *s = (const unsigned char *)b->blob + b->off[id];
    size_t n = b->off[id + 1] - b->off[id];
    uint64_t h = hash_bytes(s, n);
    for (uint32_t i = (uint32_t)h & b->tmask;; i = (i + 1) & b->tmask) {
        if (b->table[i][0] == EMPTY32) { b->table[i][0] = (uint32_t)id; b->table[i][1] = (uint32_t)(h >> 32); return 0; }
        uint32_t o = b->table[i][0];
        if (b->off[o + 1] - b->off[o] == n && memcmp(b->blob + b->off[o], s, n) == 0)
            return ng_fail("gpt2 encoder.json: tokens %u and %d have the same bytes", o, id);
    }
}

/* encoder.json (token text in the byte alphabet -> id) -> every token's bytes: b->blob with
 * b->off[id]..b->off[id+1] */
static int load_token_bytes(NgBpe *b, const JsonValue *root, const int *u2b) {
    int V = b->vocab;
    if (root->type != JSON_OBJECT || root->n != (size_t)V)
        return ng_fail("gpt2 encoder.json: expected an object of %d tokens", V);
    /* token bytes: lengths first (indexed by id), then the blob */
    size_t total = 0;
    long *len = ng_calloc((size_t)V, sizeof *len, "token lengths");
    const char **key = ng_calloc((size_t)V, sizeof *key, "token keys");
    size_t *keylen = ng_calloc((size_t)V, sizeof *keylen, "token keys");
    if (!len || !key || !keylen) { free(len); free(key); free(keylen); return -1; }
    for (int i = 0; i < V; i++) len[i] = -1;
    int bad = 0;
    for (size_t k = 0; k < root->n && !bad; k++) {
        const JsonValue *v = &root->items[k];
        if (v->type != JSON_NUMBER || !v->is_integer || v->integer < 0 || v->integer >= V) {
            ng_fail("gpt2 encoder.json: the id of token %zu is not an integer in 0..%d", k, V - 1); bad = 1; break;
        }
        int id = (int)v->integer;
        if (len[id] >= 0) { ng_fail("gpt2 encoder.json: id %d is used twice", id); bad = 1; break; }
        key[id] = root->keys[k];
        keylen[id] = strlen(root->keys[k]);
        len[id] = (long)keylen[id];                      /* an upper bound on the bytes */
        total += keylen[id];
    }
    if (!bad) {
        b->blob = ng_malloc(total + 1, "token bytes");
        b->off = ng_malloc(((size_t)V + 1) * sizeof *b->off, "token offsets");
        if (!b->blob || !b->off) bad = 1;
    }
    size_t o = 0;
    for (int id = 0; id < V && !bad; id++) {
        b->off[id] = (uint32_t)o;
        if (id == NG_GPT2_EOT) {                          /* the special token is plain text */
            if (strcmp(key[id], EOT_TEXT) != 0) { ng_fail("gpt2 encoder.json: id %d is not " EOT_TEXT, id); bad = 1; break; }
            memcpy(b->blob + o, EOT_TEXT, EOT_LEN);
            o += EOT_LEN;
            continue;
        }
        long l = unmap_token(u2b, key[id], keylen[id], (unsigned char *)b->blob + o);
        if (l <= 0) { ng_fail("gpt2 encoder.json: token %d (\"%.40s\") is not in the byte alphabet", id, key[id]); bad = 1; break; }
        o += (size_t)l;
    }
    if (!bad) b->off[V] = (uint32_t)o;
    free(len); free(key); free(keylen);
    return bad ? -1 : 0;
}

/* ids 0..255 are the single bytes in rank order, as tiktoken derives them */
static int check_byte_tokens(NgBpe *b, const unsigned char *rank_to_byte) {
    for (int id = 0; id < 256; id++) {
        if (b->off[id + 1] - b->off[id] != 1 || (unsigned char)b->blob[b->off[id]] != rank_to_byte[id])
            return ng_fail("gpt2 encoder.json: id %d is not the byte 0x%02x", id, rank_to_byte[id]);
        b->byte_token[rank_to_byte[id]] = id;
    }
    return 0;
}

/* bytes -> id: the hash table token_find reads */
static int build_token_table(NgBpe *b) {
    b->tmask = (1u << 17) - 1;
    b->table = ng_malloc((size_t)(b->tmask + 1) * sizeof *b->table, "token table");
    if (!b->table) return -1;
    memset(b->table, 0xFF, (size_t)(b->tmask + 1) * sizeof *b->table);
    for (int id = 0; id < b->vocab; id++)
        if (id != NG_GPT2_EOT && token_insert(b, id) != 0) return -1;
    return 0;
}

/* vocab.bpe: "#version: 0.2" then merge i = "A B" must make the token of id 256 + i */
static int check_merges(const NgBpe *b, const char *M, size_t mn, const int *u2b) {
    unsigned char *tmp = ng_malloc(4096, "merge check");
    if (!tmp) return -1;
    int rc = 0, merges = 0;
    const char *p = memchr(M, '\n', mn), *end = M + mn;
    if (!p || strncmp(M, "#version", 8) != 0) { free(tmp); return ng_fail("gpt2 vocab.bpe: missing the #version line"); }
    p++;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le == p) { p = le + 1; continue; }           /* blank line (the final newline) */
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        int line = merges + 2;
        if (!sp || le - p > 2000) { rc = ng_fail("gpt2 vocab.bpe:%d: expected \"A B\"", line); break; }
        long la = unmap_token(u2b, p, (size_t)(sp - p), tmp);
        long lb = la > 0 ? unmap_token(u2b, sp + 1, (size_t)(le - sp - 1), tmp + la) : -1;
        if (la <= 0 || lb <= 0) { rc = ng_fail("gpt2 vocab.bpe:%d: not in the byte alphabet", line); break; }
        if (token_find(b, tmp, (size_t)(la + lb)) != 256 + merges) {
            rc = ng_fail("gpt2 vocab.bpe:%d: merge %d does not make token %d of encoder.json", line, merges, 256 + merges);
            break;
        }
        merges++;
        p = le + 1;
    }
    free(tmp);
    if (rc == 0 && merges != b->vocab - 257) rc = ng_fail("gpt2 vocab.bpe: %d merges, expected %d", merges, b->vocab - 257);
    return rc;
}

NgBpe *ng_bpe_load_gpt2(void) {
    const char *J = ng_gpt2_encoder_json, *M = ng_gpt2_vocab_bpe;
    size_t jn = (size_t)(ng_gpt2_encoder_json_end - J), mn = (size_t)(ng_gpt2_vocab_bpe_end - M);
    char err[256];
    JsonValue *root = ng_json_parse(J, jn, err, sizeof err);
    if (!root) { ng_fail("gpt2 encoder.json (embedded): not valid JSON: %s", err); return NULL; }
    NgBpe *b = ng_calloc(1, sizeof *b, "GPT-2 tokenizer");
    int u2b[0x144];
    unsigned char rank_to_byte[256];
    byte_alphabet(u2b, rank_to_byte);
    int rc = b ? 0 : -1;
    if (rc == 0) { b->vocab = NG_GPT2_VOCAB; rc = load_token_bytes(b, root, u2b); }
    ng_json_free(root);
    if (rc == 0) rc = check_byte_tokens(b, rank_to_byte);
    if (rc == 0) rc = build_token_table(b);
    if (rc == 0) rc = check_merges(b, M, mn, u2b);
    if (rc != 0) { ng_bpe_free(b); return NULL; }
    for (UChar32 c = 0; c < 0x10000; c++) b->cls[c] = (uint8_t)classify(c);   /* the pre-tokenizer's classes */
    return b;
}
