#pragma once
// Small constructors for the form fields every page uses, so a field is one line with its
// range, value and tooltip.
#include <QString>

class QDoubleSpinBox;
class QLineEdit;
class QScrollArea;
class QSpinBox;
class QWidget;

namespace hqq::ui {

QSpinBox* spin_box(int lo, int hi, int value, const QString& tip);
QDoubleSpinBox* real_box(double lo, double hi, double value, double step, int decimals,
                         const QString& tip);
// `edit` with a browse button beside it; `folder` picks folders, otherwise existing files.
QWidget* path_row(QLineEdit* edit, bool folder, QWidget* parent);
// A scrolling form as wide as its content wants: its fields never get narrower than their hint.
void fit_form_width(QScrollArea* area);

}  // namespace hqq::ui
