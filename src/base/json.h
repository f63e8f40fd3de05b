/* json.h -- a small, bounds-checked JSON reader (RFC 8259) for safetensors headers,
 * meta.json and checkpoint metadata. Input need not be NUL-terminated. */
#ifndef NG_JSON_H
#define NG_JSON_H
#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;
typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonType type;
    double number;            /* JSON_NUMBER (also JSON_BOOL: 0/1) */
    int is_integer;           /* number had no fraction/exponent and fits int64 */
    int64_t integer;          /* exact value when is_integer */
    char *string;             /* JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t string_len;        /* bytes, may contain NUL from \u0000 */
    /* JSON_ARRAY / JSON_OBJECT */
    size_t n;
    JsonValue *items;         /* [n] */
    char **keys;              /* JSON_OBJECT: [n] decoded keys */
};
/* Parses text[0..n). On error returns NULL and writes "byte K: problem" into err. Nesting depth
 * is limited (64); duplicate object keys are an error. */
JsonValue *ng_json_parse(const char *text, size_t n, char *err, size_t errlen);
void ng_json_free(JsonValue *v);
const JsonValue *ng_json_get(const JsonValue *obj, const char *key);  /* NULL if absent / not object */
#endif
