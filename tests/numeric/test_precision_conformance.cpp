// Every precision in precision_traits' list (model_precisions) through the whole stack: tensors
// and fused expressions, the summary's bytes and name, the archive's element code and a save /
// load round trip of a model, and an optimizer step that updates the master copy and stores
// through quantize. A new precision added to the list is tested here the moment it is listed.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "strata/core/elementwise.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/random.hpp"
#include "strata/io/model_file.hpp"
#include "strata/layers/dense.hpp"
#include "strata/net/model.hpp"
#include "strata/net/summary.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/sgd.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {
template <class List>
struct as_tuple;
template <class... T>
struct as_tuple<precision_list<T...>> {
  using type = std::tuple<T...>;
};
using all_precisions = as_tuple<model_precisions>::type;

using Net = Sequential<Input<6>, Dense<4>>;

template <class T>
double value_of(T v) {
  return double(precision_traits<T>::to_compute(v));
}
// One unit in the last place of storage at 1.0, as a relative bound (fixed point: its resolution,
// the same everywhere).
template <class T>
constexpr double storage_epsilon() {
  if constexpr (is_fixed_v<T>) return T::resolution;
  else return std::ldexp(1.0, 1 - (precision_traits<T>::storage_bits == 16 ? 11 : precision_traits<T>::storage_bits == 32 ? 24 : 53));
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("every precision runs through tensors, summaries, files and optimizers", "[numeric][precision]",
                        all_precisions) {
  using T = TestType;
  STATIC_REQUIRE(Precision<T>);
  INFO("precision " << precision_traits<T>::name);

  // Tensors and a fused expression, against the same arithmetic in double on the stored values.
  Tensor<T, 1> a(64), b(64), c(64);
  fill_uniform(a, -2, 2, 1);
  fill_uniform(b, -2, 2, 2);
  c = a * b + a * T(2);
  double worst = 0;
  for (std::int64_t i = 0; i < c.size(); ++i) {
    const double want = value_of(a(i)) * value_of(b(i)) + 2 * value_of(a(i));
    worst = testing::worse_of(worst, std::abs(value_of(c(i)) - want) / std::max(std::abs(want), 1.0));
  }
  CHECK(worst <= 4 * storage_epsilon<T>());

  // Summary and memory: bytes from storage_bits, the name from the traits.
  const auto m = memory<Net, T>(10, 1);
  CHECK(m.parameters == Net::parameters * precision_traits<T>::storage_bits / 8);
  std::ostringstream out;
  print_summary<Net, T>(out, 10);
  CHECK(out.str().find(std::string("in ") + precision_traits<T>::name) != std::string::npos);

  // The archive code comes from the traits and survives a model round trip.
  CHECK(static_cast<int>(io::element_code_of<T>()) == precision_traits<T>::archive_code);
  CHECK(io::element_size(io::element_code_of<T>()) * 8 == std::size_t(precision_traits<T>::storage_bits));
  const testing::temp_dir dir;
  Model<Net, T> saved(3), loaded(4);
  saved.save(dir.path / "m.strata");
  loaded.load(dir.path / "m.strata");
  std::vector<double> vs, vl;
  saved.visit_parameters([&](const auto& p) { for (std::int64_t i = 0; i < p.value.size(); ++i) vs.push_back(value_of(p.value(i))); });
  loaded.visit_parameters([&](const auto& p) { for (std::int64_t i = 0; i < p.value.size(); ++i) vl.push_back(value_of(p.value(i))); });
  CHECK(vs == vl);
  CHECK(Model<Net, T>::signature().find(precision_traits<T>::name) != std::string::npos);

  // An optimizer step: the update is computed in the master precision and stored through
  // quantize. With gradient g and plain SGD, w ← q(m − lr·g) for the master m.
  Model<Net, T> model(5);
  std::vector<double> before;
  model.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) {
      before.push_back(value_of(p.value(i)));
      p.gradient(i) = T(0.25);
    }
  });
  train::SGD<T> sgd;
  sgd.step(model, 0.5);
  std::size_t k = 0;
  double step_error = 0;
  model.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i, ++k)
      step_error = testing::worse_of(step_error, std::abs(value_of(p.value(i)) - (before[k] - 0.125)));
  });
  CHECK(step_error <= 2 * storage_epsilon<T>());
  // Master copies exist exactly when the storage is not its own master.
  CHECK(sgd.master_copies().empty() == std::is_same_v<master_t<T>, T>);

  // Many tiny steps: a master copy (or, in fixed point, stochastic rounding of each update into
  // storage) keeps what rounding to nearest in storage alone would lose.
  if constexpr (std::is_same_v<master_t<T>, T>) return;
  Model<Net, T> slow(6);
  std::vector<double> start;
  slow.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) start.push_back(value_of(p.value(i)));
  });
  train::SGD<T> tiny;
  for (int s = 0; s < 64; ++s) {
    slow.visit_parameters([&](const auto& p) { p.gradient.fill(T(1)); });
    tiny.step(slow, storage_epsilon<T>() / 16);  // each step a sixteenth of an ulp at 1.0
  }
  double moved = 0;
  k = 0;
  slow.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i, ++k) moved += start[k] - value_of(p.value(i));
  });
  // 64 steps of eps/16 = 4 ulps at 1.0 in total per value (values are ≤ 1 in magnitude, so at
  // least that many of their own ulps): they must have moved, on average by about 4·eps.
  CHECK(moved / double(k) == Approx(4 * storage_epsilon<T>()).epsilon(0.5));
}
