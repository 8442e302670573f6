#pragma once
// Runs one core job at a time off the UI thread. The job gets a cancel token, a pause flag and a
// throttled ProgressFn; whatever it wants to show it hands to post(), which runs the function on
// the UI thread through a queued call. The UI thread never waits for the job, except in
// stop_and_wait(), which every page calls first thing in its destructor (a job must not outlive
// the page state it writes to: the runner's own destructor runs only after the page's members
// are gone), and in the runner's destructor as a last guard.
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>

#include "core/base/job.h"

namespace hqq::ui {

class JobRunner : public QObject {
  Q_OBJECT
 public:
  using Work = std::function<void(JobRunner& job)>;  // runs in a worker thread

  explicit JobRunner(QString name, QObject* parent = nullptr);
  ~JobRunner() override;

  // Starts `work` unless a job is running (then returns false).
  bool start(Work work);
  bool running() const { return running_; }
  QString name() const { return name_; }

  void cancel();
  // Cancels the job and blocks until the worker has returned. Whatever it posted and the
  // finished signal are dropped: the caller is going away.
  void stop_and_wait();
  void wait();  // blocks until the worker has returned; finished() still follows, queued
  void set_paused(bool paused);
  bool paused() const { return paused_.load(); }

  // For the worker thread.
  const CancelToken* cancel_token() const { return &cancel_; }
  void post(std::function<void()> fn);  // runs fn on the UI thread, after what was posted before
  void log(const QString& line);        // thread-safe
  ProgressFn progress_fn();             // at most ~20 updates a second reach the UI, plus the last
  // The job contract for core jobs: throttled progress, this runner's cancel and pause.
  JobContext context() { return {progress_fn(), &cancel_, &paused_}; }

 Q_SIGNALS:
  void progress(const QString& stage, qint64 done, qint64 total, const QString& message);
  void log_line(const QString& line);
  // ok: the job returned; cancelled: it threw Cancelled; otherwise error holds the message.
  void finished(bool ok, bool cancelled, const QString& error);

 private Q_SLOTS:
  void run_one_posted();

 private:
  void on_done();
  QString name_;
  CancelToken cancel_;
  std::atomic<bool> paused_{false};
  bool running_ = false;
  // The job's outcome, written by the worker and read by on_done() on the UI thread. QFuture's
  // own synchronisation orders the two, but it is a Qt mutex that TSan cannot see (Qt is not
  // instrumented), and it reported this hand-off as a race; this mutex makes the order
  // explicit and visible (tests/sanitizers/README.md).
  std::mutex outcome_mutex_;
  QString error_;
  bool cancelled_ = false;
  // What post() hands to the UI thread, in order. The functions travel in this queue under a
  // std::mutex, not inside Qt's queued events: the events carry nothing but a call by name of
  // run_one_posted(), so every byte a worker wrote for the UI thread crosses a lock that TSan
  // sees (a lambda inside the event crossed Qt's futex, invisible to it, and was reported).
  std::mutex posted_mutex_;
  std::deque<std::function<void()>> posted_;
  std::mutex progress_mutex_;
  std::chrono::steady_clock::time_point last_progress_{};
  QFutureWatcher<void> watcher_;
};

}  // namespace hqq::ui
