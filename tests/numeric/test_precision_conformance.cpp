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

#include "strata/core/cast.hpp"
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

// The values of a tensor or view, read through an expression (dynamic fixed point has no value
// per element: its exponent is the tensor's).
template <class V>
std::vector<double> values_of(const V& v) {
  const Tensor<double, 1> d = cast<double>(v.flat());
  return std::vector<double>(d.data(), d.data() + d.size());
}
// One unit in the last place of storage at 1.0, as a relative bound (fixed point: its resolution,
// the same everywhere; dynamic fixed point: one unit of its mantissa relative to the tensor's
// largest value).
template <class T>
constexpr double storage_epsilon() {
  if constexpr (is_fixed_v<T>) return T::resolution;
  else if constexpr (has_dynamic_scale<T>) return std::ldexp(1.0, 1 - T::bits);
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
  c = a * b + a * 2.0;
  const auto va = values_of(a), vb = values_of(b), vc = values_of(c);
  double worst = 0;
  for (std::size_t i = 0; i < vc.size(); ++i) {
    const double want = va[i] * vb[i] + 2 * va[i];
    worst = testing::worse_of(worst, std::abs(vc[i] - want) / std::max(std::abs(want), 1.0));
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
  saved.visit_parameters([&](const auto& p) { for (double v : values_of(p.value)) vs.push_back(v); });
  loaded.visit_parameters([&](const auto& p) { for (double v : values_of(p.value)) vl.push_back(v); });
  CHECK(vs == vl);
  CHECK(Model<Net, T>::signature().find(precision_traits<T>::name) != std::string::npos);

  // An optimizer step: the update is computed in the master precision and stored through
  // quantize. With gradient g and plain SGD, w ← q(m − lr·g) for the master m.
  Model<Net, T> model(5);
  std::vector<double> before;
  model.visit_parameters([&](const auto& p) {
    for (double v : values_of(p.value)) before.push_back(v);
    p.gradient.fill(0.25);
  });
  train::SGD<T> sgd;
  sgd.step(model, 0.5);
  std::size_t k = 0;
  double step_error = 0;
  model.visit_parameters([&](const auto& p) {
    for (double v : values_of(p.value)) step_error = testing::worse_of(step_error, std::abs(v - (before[k++] - 0.125)));
  });
  CHECK(step_error <= 2 * storage_epsilon<T>());
  // Master copies exist exactly when the storage is not its own master.
  CHECK(sgd.master_copies().empty() == std::is_same_v<master_t<T>, T>);

  // Many tiny steps: a master copy (or, in fixed point, stochastic rounding of each update into
  // storage) keeps what rounding to nearest in storage alone would lose.
  // (Dynamic fixed point keeps two bits more in its updates, not arbitrarily many: its 12-bit
  // updates are tested in net.dynamic_fixed_network.)
  if constexpr (std::is_same_v<master_t<T>, T> || has_dynamic_scale<T>) return;
  Model<Net, T> slow(6);
  std::vector<double> start;
  slow.visit_parameters([&](const auto& p) {
    for (double v : values_of(p.value)) start.push_back(v);
  });
  train::SGD<T> tiny;
  for (int s = 0; s < 64; ++s) {
    slow.visit_parameters([&](const auto& p) { p.gradient.fill(1.0); });
    tiny.step(slow, storage_epsilon<T>() / 16);  // each step a sixteenth of an ulp at 1.0
  }
  double moved = 0;
  k = 0;
  slow.visit_parameters([&](const auto& p) {
    for (double v : values_of(p.value)) moved += start[k++] - v;
  });
  // 64 steps of eps/16 = 4 ulps at 1.0 in total per value (values are ≤ 1 in magnitude, so at
  // least that many of their own ulps): they must have moved, on average by about 4·eps.
  CHECK(moved / double(k) == Approx(4 * storage_epsilon<T>()).epsilon(0.5));
}
