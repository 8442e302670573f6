// LlamaModel::decode: one token through the whole model inside one OpenMP parallel region (the
// team libtorch's intra-op pool uses, sized by at::get_num_threads(), so kernels and ATen never
// compete for cores). Thread 0 does the vector work of size `hidden` (norms, residual adds);
// every projection is split by output rows and the attention by query heads, with a barrier
// between dependent steps. All arithmetic is fp32; the KV cache keeps the compute dtype.
#include "core/model/decode_step.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "kernels/decode_ops.h"

namespace hqq {
namespace {

std::vector<float> to_floats(const at::Tensor& t) {
  if (!t.defined()) return {};
  at::Tensor f = t.to(at::kFloat).contiguous();
  return std::vector<float>(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

// Rows [a, b) of n for thread `tid` of `nt`, cut at multiples of 16 (the kernels' row blocks).
std::pair<int64_t, int64_t> slice(int64_t n, int tid, int nt) {
  auto cut = [&](int t) { return t == nt ? n : std::min(n, n * t / nt / 16 * 16); };
  return {cut(tid), cut(tid + 1)};
}

using Clock = std::chrono::steady_clock;

}  // namespace

DecodeWorkspace::DecodeWorkspace(const LlamaModel& m) {
  const ModelConfig& c = m.config_;
  for (const DecoderLayer& l : m.layers_)
    layers_.push_back({to_floats(l.input_norm), to_floats(l.post_attention_norm),
                       to_floats(l.q_norm), to_floats(l.k_norm), to_floats(l.pre_feedforward_norm),
                       to_floats(l.post_feedforward_norm)});
  final_norm_ = to_floats(m.final_norm_);
  inv_freq_ = to_floats(m.rope_->inverse_frequencies());
  cos_.resize(inv_freq_.size());
  sin_.resize(inv_freq_.size());
  const auto n = [](int64_t v) { return static_cast<size_t>(v); };
  h0_.resize(n(c.hidden_size));
  q_.resize(n(c.q_dim()));
  k_.resize(n(c.kv_dim()));
  v_.resize(n(c.kv_dim()));
  att_.resize(n(c.q_dim()));
  o_.resize(n(c.hidden_size));
  gate_.resize(n(c.intermediate_size));
  up_.resize(n(c.intermediate_size));
  logits_.resize(n(c.vocab_size));
}

bool LlamaModel::can_decode() const {
  if (dtype_ != at::kFloat && dtype_ != at::kBFloat16) return false;
  if (embed_tokens_.defined() &&
      (!embed_tokens_.device().is_cpu() || !embed_tokens_.is_contiguous()))
    return false;
  if (config_.head_dim % 2 != 0) return false;
  for (const DecoderLayer& l : layers_)
    for (const Linear* p : {l.q_proj.get(), l.k_proj.get(), l.v_proj.get(), l.o_proj.get(),
                            l.gate_proj.get(), l.up_proj.get(), l.down_proj.get()})
      if (!p->has_row_product()) return false;
  return lm_head_->has_row_product();
}

const float* LlamaModel::decode(int64_t token, KvCache& cache, DecodeWorkspace& ws,
                                DecodeProfile* profile) const {
  const ModelConfig& c = config_;
  if (!can_decode()) throw Error("decode: this model runs through forward() only");
  if (token < 0 || token >= c.vocab_size)
    throw InputError("token id " + std::to_string(token) + " is outside the vocabulary (size " +
                     std::to_string(c.vocab_size) + ")");
  if (cache.batch() != 1) throw Error("decode: the cache must hold one sequence");
  if (cache.keys(0).scalar_type() != dtype_) throw Error("decode: cache dtype differs");
  const int64_t pos = cache.length();
  if (pos + 1 > cache.capacity())
    throw Error("context full: " + std::to_string(pos + 1) +
                " positions exceed the cache capacity of " + std::to_string(cache.capacity()));
  const auto t_start = Clock::now();
  const int64_t hidden = c.hidden_size, H = c.num_attention_heads, KV = c.num_key_value_heads,
                D = c.head_dim, G = H / KV, F = c.intermediate_size, cap_len = cache.capacity();
  const bool bf16 = dtype_ == at::kBFloat16;
  const kernels::DecodeOps& ops = kernels::decode_ops();
  const int nt = std::max(1, at::get_num_threads());
  if (ws.scores_.size() < static_cast<size_t>(nt * cap_len))
    ws.scores_.resize(static_cast<size_t>(nt * cap_len));
  if (ws.h_.size() < static_cast<size_t>(nt * hidden)) {
    ws.h_.resize(static_cast<size_t>(nt * hidden));
    ws.x_.resize(static_cast<size_t>(nt * hidden));
  }

  // Embedding row (Gemma scales it by a multiplier rounded to the compute dtype, as forward()).
  float mult = static_cast<float>(c.embedding_multiplier);
  if (bf16) mult = kernels::bf16_to_float(kernels::float_to_bf16(mult));
  if (const Linear* q = quantized_embedding()) {
    // fp32 from the codes, rounded to the compute dtype as forward()'s lookup is.
    q->weight_rows(&token, 1, ws.h0_.data());
    if (bf16)
      for (float& v : ws.h0_) v = kernels::bf16_to_float(kernels::float_to_bf16(v));
  } else if (bf16) {
    const auto* e =
        reinterpret_cast<const uint16_t*>(embed_tokens_.data_ptr<at::BFloat16>()) + token * hidden;
    for (int64_t i = 0; i < hidden; ++i) ws.h0_[i] = kernels::bf16_to_float(e[i]);
  } else {
    std::memcpy(ws.h0_.data(), embed_tokens_.data_ptr<float>() + token * hidden,
                sizeof(float) * static_cast<size_t>(hidden));
  }
  if (c.embedding_multiplier != 1.0)
    for (float& v : ws.h0_)
      v = bf16 ? kernels::bf16_to_float(kernels::float_to_bf16(v * mult)) : v * mult;
  for (size_t i = 0; i < ws.inv_freq_.size(); ++i) {
    const float a = static_cast<float>(pos) * ws.inv_freq_[i];
    ws.cos_[i] = std::cos(a);
    ws.sin_[i] = std::sin(a);
  }
  const float eps = static_cast<float>(c.rms_norm_eps),
              scale = static_cast<float>(c.attention_scale);
  const float softcap =
      c.attn_logit_softcapping ? static_cast<float>(*c.attn_logit_softcapping) : 0;
  const bool add_one = c.norm_adds_one;
  const bool gelu = c.hidden_act == ModelConfig::Activation::GeluTanh;
  float* o = ws.o_.data();
  if (profile)
    profile->add(DecodeProfile::Other,
                 std::chrono::duration<double>(Clock::now() - t_start).count());

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), n = omp_get_num_threads();
    // Each thread keeps its own copy of the residual stream and of the normalised input: the
    // norms and residual adds (a few µs) run on every thread at once instead of on one thread
    // between two barriers, so only the steps that gather every thread's rows synchronise.
    float* h = ws.h_.data() + tid * hidden;
    float* x = ws.x_.data() + tid * hidden;
    std::memcpy(h, ws.h0_.data(), sizeof(float) * static_cast<size_t>(hidden));
    // Thread 0 times each step; `sync` ends a step that gathers every thread's rows.
    Clock::time_point t_last = Clock::now();
    auto step_done = [&](DecodeProfile::Stage s, bool sync) {
      if (sync) {
#pragma omp barrier
      }
      if (tid == 0 && profile) {
        const Clock::time_point now = Clock::now();
        profile->add(s, std::chrono::duration<double>(now - t_last).count());
        t_last = now;
      }
    };
    auto rows = [&](const Linear& p, const float* in, float* out) {
      const auto [a, b] = slice(p.out_features(), tid, n);
      if (a < b) p.row_product(in, out, a, b);
    };
    float* scores = ws.scores_.data() + tid * cap_len;
    // Whole KV heads per thread when they divide evenly: the q/k/v rows of a head, its RoPE,
    // the cache write and the attention of its G queries then need no barrier in between.
    const bool by_kv_head = KV % n == 0;
    for (size_t l = 0; l < layers_.size(); ++l) {
      const DecoderLayer& L = layers_[l];
      const DecodeWorkspace::Norms& N = ws.layers_[l];
      ops.rms_norm(h, hidden, N.input.data(), eps, add_one, x);
      step_done(DecodeProfile::Norms, false);
      if (by_kv_head) {
        // Each thread makes the q/k/v rows of its own KV heads, which only it reads next.
        const int64_t a = KV * tid / n, b = KV * (tid + 1) / n;
        if (a < b) {
          L.q_proj->row_product(x, ws.q_.data(), a * G * D, b * G * D);
          L.k_proj->row_product(x, ws.k_.data(), a * D, b * D);
          L.v_proj->row_product(x, ws.v_.data(), a * D, b * D);
        }
      } else {
        rows(*L.q_proj, x, ws.q_.data());
        rows(*L.k_proj, x, ws.k_.data());
        rows(*L.v_proj, x, ws.v_.data());
      }
      step_done(DecodeProfile::Projections, !by_kv_head);
      const at::Tensor& kc = cache.keys(static_cast<int64_t>(l));
      const at::Tensor& vc = cache.values(static_cast<int64_t>(l));
      // Head j < H is query head j, j >= H key head j - H: q/k norms (Qwen3), RoPE, and for a
      // key head this position's k and v into the cache.
      auto prepare_head = [&](int64_t j) {
        const bool is_q = j < H;
        float* v = is_q ? ws.q_.data() + j * D : ws.k_.data() + (j - H) * D;
        if (c.qk_norm) ops.rms_norm(v, D, (is_q ? N.q : N.k).data(), eps, add_one, v);
        ops.rope(v, 1, D, ws.cos_.data(), ws.sin_.data());
        if (is_q) return;
        const int64_t kvh = j - H, off = (kvh * cap_len + pos) * D;
        const float* vv = ws.v_.data() + kvh * D;
        if (bf16) {
          auto* kd = reinterpret_cast<uint16_t*>(kc.data_ptr<at::BFloat16>()) + off;
          auto* vd = reinterpret_cast<uint16_t*>(vc.data_ptr<at::BFloat16>()) + off;
          for (int64_t i = 0; i < D; ++i) {
            kd[i] = kernels::float_to_bf16(v[i]);
            vd[i] = kernels::float_to_bf16(vv[i]);
          }
        } else {
          std::memcpy(kc.data_ptr<float>() + off, v, sizeof(float) * static_cast<size_t>(D));
          std::memcpy(vc.data_ptr<float>() + off, vv, sizeof(float) * static_cast<size_t>(D));
        }
      };
      // One query against positions [s0, pos] of its KV head (hq / G: GQA without repeats).
      const std::optional<int64_t> window = c.layer_window(static_cast<int64_t>(l));
      const int64_t s0 = window ? std::max<int64_t>(0, pos - *window + 1) : 0;
      auto attend = [&](int64_t hq) {
        const int64_t base = hq / G * cap_len * D;
        if (bf16)
          ops.attend_bf16(ws.q_.data() + hq * D,
                          reinterpret_cast<const uint16_t*>(kc.data_ptr<at::BFloat16>()) + base,
                          reinterpret_cast<const uint16_t*>(vc.data_ptr<at::BFloat16>()) + base, s0,
                          pos + 1, D, scale, softcap, scores, ws.att_.data() + hq * D);
        else
          ops.attend_f32(ws.q_.data() + hq * D, kc.data_ptr<float>() + base,
                         vc.data_ptr<float>() + base, s0, pos + 1, D, scale, softcap, scores,
                         ws.att_.data() + hq * D);
      };
      if (by_kv_head) {
        for (int64_t kvh = KV * tid / n; kvh < KV * (tid + 1) / n; ++kvh) {
          prepare_head(H + kvh);
          for (int64_t hq = kvh * G; hq < (kvh + 1) * G; ++hq) prepare_head(hq);
          for (int64_t hq = kvh * G; hq < (kvh + 1) * G; ++hq) attend(hq);
        }
      } else {
        for (int64_t j = (H + KV) * tid / n; j < (H + KV) * (tid + 1) / n; ++j) prepare_head(j);
#pragma omp barrier
        for (int64_t hq = H * tid / n; hq < H * (tid + 1) / n; ++hq) attend(hq);
      }
      step_done(DecodeProfile::Attention, true);
      rows(*L.o_proj, ws.att_.data(), o);
      step_done(DecodeProfile::Projections, true);
      if (c.sandwich_norms) ops.rms_norm(o, hidden, N.post_attention.data(), eps, add_one, x);
      const float* a = c.sandwich_norms ? x : o;
      for (int64_t i = 0; i < hidden; ++i) h[i] += a[i];
      ops.rms_norm(h, hidden, (c.sandwich_norms ? N.pre_feedforward : N.post_attention).data(), eps,
                   add_one, x);
      step_done(DecodeProfile::Norms, false);
      {
        // The activation of a row needs only that row's gate and up: same slice, no barrier.
        const auto [a0, a1] = slice(F, tid, n);
        if (a0 < a1) {
          L.gate_proj->row_product(x, ws.gate_.data(), a0, a1);
          L.up_proj->row_product(x, ws.up_.data(), a0, a1);
        }
        step_done(DecodeProfile::Projections, false);
        ops.glu(ws.gate_.data() + a0, ws.up_.data() + a0, a1 - a0, gelu);
      }
      step_done(DecodeProfile::Elementwise, true);
      // o is read by every thread's residual add above: no thread may overwrite it before all
      // have passed that point, which the barrier just taken guarantees.
      rows(*L.down_proj, ws.gate_.data(), o);
      step_done(DecodeProfile::Projections, true);
      if (c.sandwich_norms) ops.rms_norm(o, hidden, N.post_feedforward.data(), eps, add_one, x);
      const float* m = c.sandwich_norms ? x : o;
      for (int64_t i = 0; i < hidden; ++i) h[i] += m[i];
      if (l + 1 == layers_.size()) ops.rms_norm(h, hidden, ws.final_norm_.data(), eps, add_one, x);
      step_done(DecodeProfile::Norms, false);
    }
    rows(*lm_head_, x, ws.logits_.data());
    step_done(DecodeProfile::LmHead, true);
  }
  if (c.final_logit_softcapping) {
    const float cap = static_cast<float>(*c.final_logit_softcapping);
    for (float& v : ws.logits_) v = cap * std::tanh(v / cap);
  }
  cache.commit(1);
  return ws.logits_.data();
}

}  // namespace hqq
