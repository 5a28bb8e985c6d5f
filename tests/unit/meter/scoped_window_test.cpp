// Meter::cancel and ScopedWindow: a window that is not ended must never stay open, and a
// cancelled name can be begun again.
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "ecocompute/meter.h"
#include "meter/scripted_sensor.h"

namespace eco::meter {
namespace {

std::unique_ptr<Meter> make_meter() {
  MeterOptions o;
  o.interval_s = 0;  // boundaries only: these tests are about bookkeeping, not energy
  o.use_host = false;
  ScriptedDevice d;
  d.power = {{0.0, 100.0}};
  return std::make_unique<Meter>(o, std::make_unique<ScriptedSensor>(std::vector{d}));
}

TEST(MeterCancel, ClosesAnOpenWindowWithoutAResult) {
  auto m = make_meter();
  m->begin("w");
  ASSERT_TRUE(m->is_open("w"));
  m->cancel("w");
  EXPECT_FALSE(m->is_open("w"));
  EXPECT_THROW(m->end("w"), std::runtime_error);  // nothing left to end
  m->begin("w");                                  // the name is free again
  EXPECT_TRUE(m->is_open("w"));
  EXPECT_EQ(m->end("w").name, "w");
}

TEST(MeterCancel, IsSafeWhenTheWindowIsNotOpen) {
  auto m = make_meter();
  EXPECT_NO_THROW(m->cancel("never-begun"));
  m->begin("a");
  m->cancel("b");  // another name: "a" stays open
  EXPECT_TRUE(m->is_open("a"));
  m->cancel("a");
  EXPECT_NO_THROW(m->cancel("a"));
}

TEST(ScopedWindow, EndReturnsTheResultOnce) {
  auto m = make_meter();
  ScopedWindow w(*m, "scoped");
  EXPECT_TRUE(w.open());
  EXPECT_TRUE(m->is_open("scoped"));
  const WindowResult r = w.end();
  EXPECT_EQ(r.name, "scoped");
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_FALSE(w.open());
  EXPECT_FALSE(m->is_open("scoped"));
  try {
    w.end();
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'scoped' was already ended"), std::string::npos);
  }
}

TEST(ScopedWindow, DestructorCancelsWhenEndIsNotReached) {
  auto m = make_meter();
  try {
    ScopedWindow w(*m, "work");
    ASSERT_TRUE(m->is_open("work"));
    throw std::runtime_error("the work failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(m->is_open("work"));
  { ScopedWindow early_return(*m, "work"); }
  EXPECT_FALSE(m->is_open("work"));
}

TEST(ScopedWindow, EndedWindowIsNotCancelledTwiceAndCancelIsIdempotent) {
  auto m = make_meter();
  {
    ScopedWindow w(*m, "x");
    w.end();
    m->begin("x");  // someone else reuses the name after end(): the destructor must leave it
  }
  EXPECT_TRUE(m->is_open("x"));
  m->cancel("x");
  ScopedWindow v(*m, "y");
  v.cancel();
  v.cancel();
  EXPECT_FALSE(v.open());
  EXPECT_FALSE(m->is_open("y"));
}

TEST(ScopedWindow, MoveTransfersOwnership) {
  auto m = make_meter();
  auto open = [&] { return ScopedWindow(*m, "moved"); };
  ScopedWindow a = open();
  EXPECT_TRUE(a.open());
  ScopedWindow b(std::move(a));
  EXPECT_FALSE(a.open());  // NOLINT(bugprone-use-after-move): the moved-from state is the test
  EXPECT_TRUE(b.open());
  EXPECT_TRUE(m->is_open("moved"));
  EXPECT_EQ(b.end().name, "moved");
}

TEST(ScopedWindow, BeginningAnOpenNameThrowsAndLeavesTheOtherOpen) {
  auto m = make_meter();
  m->begin("dup");
  EXPECT_THROW(ScopedWindow(*m, "dup"), std::runtime_error);
  EXPECT_TRUE(m->is_open("dup"));  // the failed constructor did not cancel the first window
}

TEST(WindowOptions, BadAlignTimeoutIsRejectedWithTheWindowName) {
  auto m = make_meter();
  WindowOptions o;
  o.aligned = true;
  o.align_timeout_s = 0;
  try {
    m->begin("aligned", o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'aligned': align_timeout_s"), std::string::npos);
  }
  EXPECT_FALSE(m->is_open("aligned"));
}

}  // namespace
}  // namespace eco::meter
