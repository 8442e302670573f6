// JobRunner on its own (QtCore only, no widgets, no torch): the worker thread, its queued
// posts, cancel, pause and the outcome read back on the UI thread. Cheap to build, so the tsan
// preset runs it beside the GUI tests; it must fail if the hand-offs lose or reorder anything.
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QTest>
#include <atomic>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "ui/job_runner.h"

namespace {

using hqq::ui::JobRunner;

struct Outcome {
  int finished = 0;
  bool ok = false, cancelled = false;
  QString error;
};

void watch(JobRunner& r, Outcome& o) {
  QObject::connect(&r, &JobRunner::finished, [&o](bool ok, bool cancelled, const QString& e) {
    ++o.finished;
    o.ok = ok;
    o.cancelled = cancelled;
    o.error = e;
  });
}

bool wait_done(const JobRunner& r) {
  return QTest::qWaitFor([&r] { return !r.running(); }, 30000);
}

TEST(JobRunner, PostsRunOnTheUiThreadInOrderAndTheResultIsSeenAfterwards) {
  JobRunner r("job");
  Outcome o;
  watch(r, o);
  std::vector<int> seen;  // touched only on the UI thread
  const auto ui_thread = std::this_thread::get_id();
  bool all_on_ui = true;
  for (int round = 0; round < 3; ++round) {  // the pool thread is reused between jobs
    seen.clear();
    ASSERT_TRUE(r.start([&](JobRunner& job) {
      for (int i = 0; i < 200; ++i)
        job.post([&, i] {
          all_on_ui = all_on_ui && std::this_thread::get_id() == ui_thread;
          seen.push_back(i);
        });
    }));
    EXPECT_FALSE(r.start([](JobRunner&) {})) << "a second job while one runs";
    ASSERT_TRUE(wait_done(r));
    QCoreApplication::processEvents();
    ASSERT_EQ(seen.size(), 200u);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(seen[i], i);
    EXPECT_TRUE(all_on_ui);
    EXPECT_EQ(o.finished, round + 1);
    EXPECT_TRUE(o.ok);
  }
}

TEST(JobRunner, ErrorsAndCancellationReachTheUiThread) {
  JobRunner r("job");
  Outcome o;
  watch(r, o);
  ASSERT_TRUE(r.start([](JobRunner&) { throw hqq::InputError("data.txt: line 3 is not JSON"); }));
  ASSERT_TRUE(wait_done(r));
  EXPECT_FALSE(o.ok);
  EXPECT_FALSE(o.cancelled);
  EXPECT_EQ(o.error, "data.txt: line 3 is not JSON");

  std::atomic<bool> running{false};
  ASSERT_TRUE(r.start([&](JobRunner& job) {
    running = true;
    const hqq::JobContext ctx = job.context();
    for (;;) {
      ctx.check();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }));
  ASSERT_TRUE(QTest::qWaitFor([&] { return running.load(); }, 30000));
  r.cancel();
  ASSERT_TRUE(wait_done(r));
  EXPECT_TRUE(o.cancelled);
  EXPECT_FALSE(o.ok);
  EXPECT_TRUE(o.error.isEmpty()) << o.error.toStdString();
}

TEST(JobRunner, PauseHoldsTheWorkerAndProgressIsThrottledButKeepsTheLast) {
  JobRunner r("job");
  Outcome o;
  watch(r, o);
  std::vector<qint64> done;
  QObject::connect(&r, &JobRunner::progress,
                   [&](const QString&, qint64 d, qint64, const QString&) { done.push_back(d); });
  std::atomic<int> step{0};
  std::atomic<bool> at_ten{false}, held{false};
  r.set_paused(true);  // start() clears it: a new job never starts paused
  ASSERT_TRUE(r.start([&](JobRunner& job) {
    const hqq::JobContext ctx = job.context();
    for (int i = 1; i <= 1000; ++i) {
      while (ctx.pause->load()) {
        held = true;
        if (ctx.cancelled()) throw hqq::Cancelled();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      step = i;
      ctx.report({"work", i, 1000, ""});
      while (i == 10 && !ctx.pause->load()) {  // wait for the pause: a known point
        at_ten = true;
        if (ctx.cancelled()) throw hqq::Cancelled();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }));
  ASSERT_TRUE(QTest::qWaitFor([&] { return at_ten.load(); }, 30000));
  r.set_paused(true);
  ASSERT_TRUE(QTest::qWaitFor([&] { return held.load(); }, 30000));
  QTest::qWait(50);
  EXPECT_EQ(step.load(), 10) << "the paused worker went on";
  r.set_paused(false);
  ASSERT_TRUE(wait_done(r));
  QCoreApplication::processEvents();
  EXPECT_TRUE(o.ok);
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(done.back(), 1000) << "the last update is never dropped";
  EXPECT_LT(done.size(), 100u) << "1000 updates at once must be throttled";
}

TEST(JobRunner, DestructorWaitsForTheWorker) {
  std::atomic<bool> finished{false};
  {
    JobRunner r("job");
    ASSERT_TRUE(r.start([&](JobRunner& job) {
      while (!job.cancel_token()->cancelled())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      finished = true;
    }));
  }  // cancels, then waits
  EXPECT_TRUE(finished.load());
}

}  // namespace

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
