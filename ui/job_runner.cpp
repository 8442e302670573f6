#include "ui/job_runner.h"

#include <c10/util/Exception.h>
#include <QtConcurrent/QtConcurrentRun>

#include "core/base/error.h"

namespace hqq::ui {

JobRunner::JobRunner(QString name, QObject* parent) : QObject(parent), name_(std::move(name)) {
  connect(&watcher_, &QFutureWatcher<void>::finished, this, &JobRunner::on_done);
}

JobRunner::~JobRunner() {
  stop_and_wait();
}

void JobRunner::stop_and_wait() {
  cancel_.cancel();
  paused_ = false;
  disconnect(&watcher_, nullptr, this, nullptr);  // no on_done() into a page being destroyed
  watcher_.waitForFinished();
}

void JobRunner::wait() {
  watcher_.waitForFinished();
}

bool JobRunner::start(Work work) {
  if (running_) return false;
  running_ = true;
  cancel_.reset();
  paused_ = false;
  error_.clear();
  cancelled_ = false;
  last_progress_ = {};
  Q_EMIT log_line(tr("%1 started").arg(name_));
  // The job's outcome is recorded by the worker itself, so that on_done() reads it after the
  // future finished (happens-before through QFuture's own synchronisation).
  watcher_.setFuture(QtConcurrent::run([this, work = std::move(work)] {
    try {
      work(*this);
    } catch (const Cancelled&) {
      cancelled_ = true;
    } catch (const c10::Error& e) {
      // libtorch's what() carries a C++ backtrace: users get the message only.
      error_ = QString::fromUtf8(e.what_without_backtrace());
      if (error_.isEmpty()) error_ = tr("unknown error");
    } catch (const std::exception& e) {
      error_ = QString::fromStdString(e.what());
      if (error_.isEmpty()) error_ = tr("unknown error");
    }
  }));
  return true;
}

void JobRunner::cancel() {
  cancel_.cancel();
  paused_ = false;  // a paused job must wake up to notice
}

void JobRunner::set_paused(bool paused) {
  paused_ = paused;
  Q_EMIT log_line(paused ? tr("%1 paused").arg(name_) : tr("%1 resumed").arg(name_));
}

void JobRunner::post(std::function<void()> fn) {
  QMetaObject::invokeMethod(this, std::move(fn), Qt::QueuedConnection);
}

void JobRunner::log(const QString& line) {
  post([this, line] { Q_EMIT log_line(line); });
}

ProgressFn JobRunner::progress_fn() {
  return [this](const ProgressEvent& e) {
    {
      std::lock_guard lock(progress_mutex_);
      const auto now = std::chrono::steady_clock::now();
      const bool last = e.total > 0 && e.done >= e.total;
      if (!last && now - last_progress_ < std::chrono::milliseconds(50)) return;
      last_progress_ = now;
    }
    post([this, e] {
      Q_EMIT progress(QString::fromStdString(e.stage), e.done, e.total,
                      QString::fromStdString(e.message));
    });
  };
}

void JobRunner::on_done() {
  running_ = false;
  const bool ok = !cancelled_ && error_.isEmpty();
  if (cancelled_)
    Q_EMIT log_line(tr("%1 cancelled").arg(name_));
  else if (!ok)
    Q_EMIT log_line(tr("%1 failed: %2").arg(name_, error_));
  else
    Q_EMIT log_line(tr("%1 finished").arg(name_));
  Q_EMIT finished(ok, cancelled_, error_);
}

}  // namespace hqq::ui
