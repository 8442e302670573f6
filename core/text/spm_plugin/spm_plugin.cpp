// The only translation unit that sees sentencepiece. Exports the C API of spm_api.h.
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/text/spm_plugin/spm_api.h"

struct hqq_spm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

template <typename T>
int64_t hand_out(const T* data, size_t n, T** out) {
  *out = static_cast<T*>(std::malloc(sizeof(T) * (n ? n : 1)));
  if (!*out) return -1;
  if (n) std::memcpy(*out, data, sizeof(T) * n);
  return static_cast<int64_t>(n);
}

}  // namespace

#define HQQ_EXPORT extern "C" __attribute__((visibility("default")))

HQQ_EXPORT int hqq_spm_abi_version(void) {
  return HQQ_SPM_ABI_VERSION;
}

HQQ_EXPORT hqq_spm* hqq_spm_load(const char* path, char* err, size_t err_len) {
  auto h = std::make_unique<hqq_spm>();
  auto status = h->sp.Load(path);
  if (!status.ok()) {
    if (err && err_len) {
      std::strncpy(err, status.ToString().c_str(), err_len - 1);
      err[err_len - 1] = '\0';
    }
    return nullptr;
  }
  return h.release();
}

HQQ_EXPORT void hqq_spm_free(hqq_spm* h) {
  delete h;
}

HQQ_EXPORT void hqq_spm_release(void* p) {
  std::free(p);
}

HQQ_EXPORT int64_t hqq_spm_encode(hqq_spm* h, const char* text, size_t len, int32_t** ids) {
  std::vector<int> v;
  if (!h->sp.Encode(std::string_view(text, len), &v).ok()) return -1;
  std::vector<int32_t> out(v.begin(), v.end());
  return hand_out(out.data(), out.size(), ids);
}

HQQ_EXPORT int64_t hqq_spm_decode(hqq_spm* h, const int32_t* ids, size_t n, char** text) {
  std::vector<int> v(ids, ids + n);
  std::string s;
  if (!h->sp.Decode(v, &s).ok()) return -1;
  return hand_out(s.data(), s.size(), text);
}

HQQ_EXPORT int32_t hqq_spm_vocab_size(hqq_spm* h) {
  return h->sp.GetPieceSize();
}

HQQ_EXPORT int32_t hqq_spm_piece_to_id(hqq_spm* h, const char* piece, size_t len) {
  int id = h->sp.PieceToId(std::string_view(piece, len));
  // PieceToId answers unk for unknown pieces; tell that apart from the real unk piece.
  if (id == h->sp.unk_id() && h->sp.IdToPiece(id) != std::string_view(piece, len)) return -1;
  return id;
}

HQQ_EXPORT int64_t hqq_spm_id_to_piece(hqq_spm* h, int32_t id, char** text) {
  if (id < 0 || id >= h->sp.GetPieceSize()) return -1;
  const std::string& s = h->sp.IdToPiece(id);
  return hand_out(s.data(), s.size(), text);
}

HQQ_EXPORT int32_t hqq_spm_piece_type(hqq_spm* h, int32_t id) {
  if (id < 0 || id >= h->sp.GetPieceSize()) return -1;
  if (h->sp.IsUnknown(id)) return HQQ_SPM_UNKNOWN;
  if (h->sp.IsControl(id)) return HQQ_SPM_CONTROL;
  if (h->sp.IsUnused(id)) return HQQ_SPM_UNUSED;
  if (h->sp.IsByte(id)) return HQQ_SPM_BYTE;
  // User-defined symbols count as normal: sentencepiece already matches them whole in Encode.
  return HQQ_SPM_NORMAL;
}

HQQ_EXPORT void hqq_spm_special_ids(hqq_spm* h, int32_t out[4]) {
  out[0] = h->sp.bos_id();
  out[1] = h->sp.eos_id();
  out[2] = h->sp.unk_id();
  out[3] = h->sp.pad_id();
}
