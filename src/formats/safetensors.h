/* safetensors.h -- the safetensors reader and writer (internal: checkpoints, Hugging Face
 * import/export, tests and fuzz targets). The format: README "File formats". */
#ifndef NG_SAFETENSORS_H
#define NG_SAFETENSORS_H
#include "nanogpt.h"

typedef enum { NG_F32, NG_F16, NG_BF16, NG_F64, NG_I64, NG_I32, NG_I16, NG_I8, NG_U8, NG_U16, NG_U32, NG_U64, NG_BOOL_DT } NgDtype;
typedef struct {
    char *name;
    NgDtype dtype;
    int ndim;
    int64_t shape[8];
    uint64_t begin, end;             /* byte offsets into the data section */
} NgStTensor;
typedef struct {
    char path[NG_PATH_MAX];
    uint8_t *buf; size_t size;       /* the whole file */
    const uint8_t *data; size_t data_size;  /* data section */
    NgStTensor *tensors; int n_tensors;
    char **meta_keys, **meta_vals; int n_meta;  /* __metadata__ (string -> string) */
} NgStFile;
int ng_st_open(NgStFile *f, const char *path);
/* Same checks on an in-memory image (for fuzzing); `name` is used in errors. */
int ng_st_parse(NgStFile *f, const uint8_t *buf, size_t size, const char *name);
void ng_st_close(NgStFile *f);
const NgStTensor *ng_st_find(const NgStFile *f, const char *name);
const char *ng_st_meta(const NgStFile *f, const char *key);
size_t ng_dtype_size(NgDtype d);

typedef struct NgStWriter NgStWriter;
NgStWriter *ng_st_writer_new(void);
/* data is not copied: it must stay valid until ng_st_writer_save. */
int ng_st_writer_add(NgStWriter *w, const char *name, NgDtype dtype, int ndim, const int64_t *shape, const void *data);
int ng_st_writer_meta(NgStWriter *w, const char *key, const char *value);
/* writes atomically: path.tmp, fsync, rename, fsync(dir). */
int ng_st_writer_save(NgStWriter *w, const char *path);
void ng_st_writer_free(NgStWriter *w);

/* exact conversions of 16-bit floats (IEEE half, bfloat16) to float */
float ng_f16_to_f32(uint16_t h);
float ng_bf16_to_f32(uint16_t b);
/* dst[0..n) <- n elements of dtype dt (F32, F16 or BF16) at src (any alignment) */
void ng_dtype_to_f32(float *dst, const uint8_t *src, NgDtype dt, size_t n);
#endif
