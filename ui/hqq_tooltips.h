#pragma once
// One sentence per HQQ parameter, shared by every widget that sets it.
#include <QCoreApplication>
#include <QString>

namespace hqq::ui::tips {

inline QString bits() {
  return QCoreApplication::translate(
      "tips", "Bits per weight code: fewer bits make a smaller, faster model and a larger error.");
}
inline QString group_size() {
  return QCoreApplication::translate(
      "tips",
      "Weights sharing one scale and zero: smaller groups follow the weights more closely but "
      "store more (32 bits of scale+zero per group).");
}
inline QString axis() {
  return QCoreApplication::translate(
      "tips",
      "Axis along which groups are formed: 1 groups along a row's inputs (fast kernels), 0 along "
      "a column's outputs (often more accurate at very low bits).");
}
inline QString optimizer() {
  return QCoreApplication::translate(
      "tips",
      "How scale and zero are found: off = min/max rounding; reference = HQQ's half-quadratic "
      "solver; improved = the reference then least-squares refinement (never worse).");
}
inline QString round_zero() {
  return QCoreApplication::translate(
      "tips",
      "Round the zero-point to an integer, as some kernels require (slightly less accurate).");
}
inline QString iterations() {
  return QCoreApplication::translate(
      "tips", "Iterations of the half-quadratic solver (it stops early when the error grows).");
}
inline QString budget() {
  return QCoreApplication::translate(
      "tips",
      "Target size of the whole model: the planner measures each layer's error for every preset "
      "and chooses bits and group size per layer to minimise the total error within it.");
}
inline QString lora_rank() {
  return QCoreApplication::translate(
      "tips", "Rank of the LoRA update B·A trained on top of each frozen quantized layer (HQQ+).");
}
inline QString lora_alpha() {
  return QCoreApplication::translate(
      "tips", "LoRA scaling numerator: the update is multiplied by alpha/rank.");
}

}  // namespace hqq::ui::tips
