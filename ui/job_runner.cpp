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
  std::lock_guard lock(outcome_mutex_);  // the worker's last writes happen before what follows
  std::lock_guard posted_lock(posted_mutex_);
  posted_.clear();  // nothing posted runs into a page being destroyed
}

void JobRunner::wait() {
  watcher_.waitForFinished();
  std::lock_guard lock(outcome_mutex_);
}

bool JobRunner::start(Work work) {
  if (running_) return false;
  running_ = true;
  cancel_.reset();
  paused_ = false;
  {
    std::lock_guard lock(outcome_mutex_);
    error_.clear();
    cancelled_ = false;
  }
  last_progress_ = {};
  Q_EMIT log_line(tr("%1 started").arg(name_));
  // The job's outcome is recorded by the worker itself under outcome_mutex_, which on_done()
  // and wait() take too: the order does not rest on QFuture's Qt mutex alone (job_runner.h).
  watcher_.setFuture(QtConcurrent::run([this, work = std::move(work)] {
    bool cancelled = false;
    QString error;
    try {
      work(*this);
    } catch (const Cancelled&) {
      cancelled = true;
    } catch (const c10::Error& e) {
      // libtorch's what() carries a C++ backtrace: users get the message only.
      error = QString::fromUtf8(e.what_without_backtrace());
      if (error.isEmpty()) error = tr("unknown error");
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
      if (error.isEmpty()) error = tr("unknown error");
    }
    std::lock_guard lock(outcome_mutex_);
    cancelled_ = cancelled;
    error_ = std::move(error);
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
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  // One queued call per function, each running the oldest: the order holds even when a posted
  // function opens a nested event loop (a message box) that delivers the calls behind it.
  QMetaObject::invokeMethod(this, "run_one_posted", Qt::QueuedConnection);
}

void JobRunner::run_one_posted() {
  std::function<void()> fn;
  {
    std::lock_guard lock(posted_mutex_);
    if (posted_.empty()) return;  // dropped by stop_and_wait()
    fn = std::move(posted_.front());
    posted_.pop_front();
  }
  fn();
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
  QString error;
  bool cancelled = false;
  {
    std::lock_guard lock(outcome_mutex_);
    error = error_;
    cancelled = cancelled_;
  }
  const bool ok = !cancelled && error.isEmpty();
  if (cancelled)
    Q_EMIT log_line(tr("%1 cancelled").arg(name_));
  else if (!ok)
    Q_EMIT log_line(tr("%1 failed: %2").arg(name_, error));
  else
    Q_EMIT log_line(tr("%1 finished").arg(name_));
  Q_EMIT finished(ok, cancelled, error);
}

}  // namespace hqq::ui
