#pragma once
// The Inspect page: what quantization did, layer by layer. A bar chart of each layer's relative
// error coloured by module type (click a bar to select it), and for the selected layer the
// histogram of its weights before and after with the quantization levels of a typical group,
// and the distribution of the error. Fills in live while a quantization runs.
#include <QWidget>
#include <vector>

#include "core/quant/layer_report.h"

class QComboBox;
class QLabel;
class QCPBars;
class QCPColorMap;

namespace hqq::ui {

class Chart;

class InspectPage : public QWidget {
  Q_OBJECT
 public:
  explicit InspectPage(QWidget* parent = nullptr);

  void clear();
  void start_run(int total);              // a quantization of `total` layers begins
  void add_report(const LayerReport& r);  // one layer finished
  // The run ended: a cancelled or failed run is labelled as such, with how far it got.
  void finish_run(bool complete, bool cancelled, int done, int total);
  void set_reports(std::vector<LayerReport> reports);
  QString summary_text() const;
  QString hint_text() const;
  // Where report `index` stands on the bar chart's x axis: bars are grouped by decoder layer
  // (block), then projection in a fixed order, with a gap between blocks.
  double bar_key(int index) const;
  const std::vector<LayerReport>& reports() const { return reports_; }

  void select_layer(int index);
  int selected_layer() const { return selected_; }
  // For tests: the bars drawn per module type, and the histogram chart's series.
  int bar_count() const;
  const Chart* error_chart() const { return errors_; }
  const Chart* histogram_chart() const { return histogram_; }
  const Chart* error_histogram_chart() const { return err_hist_; }
  const Chart* heatmap_chart() const { return heat_; }
  const QCPColorMap* heatmap() const { return heatmap_; }

 private:
  QCPBars* bars_for(const std::string& module);
  void draw_histograms();
  void update_summary();
  void redraw_heatmap();
  enum class RunState { None, Running, Complete, Cancelled, Failed };
  RunState state_ = RunState::None;
  int expected_ = 0;  // layers the running (or last) quantization was to quantize
  std::vector<LayerReport> reports_;
  std::vector<std::pair<std::string, QCPBars*>> bars_;  // per module type
  int selected_ = -1;
  Chart* errors_ = nullptr;
  Chart* histogram_ = nullptr;
  Chart* err_hist_ = nullptr;
  Chart* heat_ = nullptr;
  QCPColorMap* heatmap_ = nullptr;
  QLabel* hint_ = nullptr;
  QComboBox* layer_box_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* detail_ = nullptr;
};

// "q_proj", "down_proj", ... from "model.layers.3.self_attn.q_proj".
std::string module_type(const std::string& module);
// 3 from "model.layers.3.self_attn.q_proj"; -1 for modules outside the decoder layers.
int layer_index(const std::string& module);

}  // namespace hqq::ui
