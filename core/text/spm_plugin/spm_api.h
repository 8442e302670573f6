#pragma once
// The plain C interface of the sentencepiece plugin (libhqq_spm.so). C types only, so that no
// C++ or protobuf symbol crosses the boundary between libtorch's world and sentencepiece's.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HQQ_SPM_ABI_VERSION 1

typedef struct hqq_spm hqq_spm;

// Piece types, as sentencepiece's ModelProto.SentencePiece.Type.
enum {
  HQQ_SPM_NORMAL = 1,
  HQQ_SPM_UNKNOWN = 2,
  HQQ_SPM_CONTROL = 3,
  HQQ_SPM_USER_DEFINED = 4,
  HQQ_SPM_UNUSED = 5,
  HQQ_SPM_BYTE = 6
};

typedef int (*hqq_spm_abi_version_fn)(void);
// Loads a tokenizer.model; on failure returns NULL and writes a message into err.
typedef hqq_spm* (*hqq_spm_load_fn)(const char* path, char* err, size_t err_len);
typedef void (*hqq_spm_free_fn)(hqq_spm*);
// Encodes text into *ids (malloc'ed, release with hqq_spm_release); returns the count or -1.
typedef int64_t (*hqq_spm_encode_fn)(hqq_spm*, const char* text, size_t len, int32_t** ids);
// Decodes ids into *text (malloc'ed, release with hqq_spm_release); returns the length or -1.
typedef int64_t (*hqq_spm_decode_fn)(hqq_spm*, const int32_t* ids, size_t n, char** text);
typedef void (*hqq_spm_release_fn)(void*);
typedef int32_t (*hqq_spm_vocab_size_fn)(hqq_spm*);
typedef int32_t (*hqq_spm_piece_to_id_fn)(hqq_spm*, const char* piece, size_t len);
// Writes the piece of id into *text (malloc'ed); returns its length or -1.
typedef int64_t (*hqq_spm_id_to_piece_fn)(hqq_spm*, int32_t id, char** text);
typedef int32_t (*hqq_spm_piece_type_fn)(hqq_spm*, int32_t id);
// bos, eos, unk, pad ids (-1 when absent).
typedef void (*hqq_spm_special_ids_fn)(hqq_spm*, int32_t out[4]);

#ifdef __cplusplus
}
#endif
